// Live reload for `survey serve`: the server adds this script to the HTML
// pages it serves (`survey build` never writes it into site/). The page
// carries the number of the build it came from. When the event stream
// reports another number, the page reloads.
(() => {
  const script = document.currentScript;
  const build = script.dataset.build;
  const events = new EventSource(script.dataset.events);
  const check = (event) => {
    if (event.data !== build) {
      events.close();
      location.reload();
    }
  };
  events.addEventListener("build", check);
  events.addEventListener("reload", check);
})();
