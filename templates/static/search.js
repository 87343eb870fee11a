// Search page: runs the site's Pagefind index in the browser and lists the
// matching pages. The query comes from `?q=` (the search box of every page
// submits here) and from typing in the page's own search box.

const form = document.getElementById("search-form");
const input = document.getElementById("search-input");
const status = document.getElementById("search-status");
const list = document.getElementById("search-results");

// This file is `<base>static/search.js`, so the site's base path is two
// levels up; the index lives in `<base>pagefind/`.
const base = new URL("../", import.meta.url).pathname;
let pagefind = null;

// A large site's index is split into shards (`data-shards` lists their
// directories); the first one loads Pagefind and the others merge into it.
const shards = (form.dataset.shards ?? "").split(" ").filter((shard) => shard !== "");
const options = { baseUrl: base, excerptLength: 40 };

async function loadPagefind() {
  if (pagefind === null) {
    const primary = shards[0] ?? "pagefind/";
    pagefind = await import(`${base}${primary}pagefind.js`);
    await pagefind.options(options);
    await pagefind.init();
    await Promise.all(shards.slice(1).map((shard) => pagefind.mergeIndex(`${base}${shard}`, options)));
  }
  return pagefind;
}

function fill(template, query, count) {
  return template.replaceAll("{query}", query).replaceAll("{count}", String(count));
}

function renderResult(data) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = data.url;
  link.textContent = data.meta.title || data.url;
  const heading = document.createElement("h2");
  heading.append(link);
  const excerpt = document.createElement("p");
  // Pagefind escapes the page text and marks the matches with <mark>.
  excerpt.innerHTML = data.excerpt;
  item.append(heading, excerpt);
  return item;
}

let latest = 0;

async function search(query) {
  const ticket = ++latest;
  query = query.trim();
  if (query === "") {
    list.replaceChildren();
    status.textContent = "";
    return;
  }
  list.setAttribute("aria-busy", "true");
  status.textContent = form.dataset.loading;
  try {
    const engine = await loadPagefind();
    const found = await engine.search(query);
    const pages = await Promise.all(found.results.map((result) => result.data()));
    if (ticket !== latest) {
      return; // A newer query has started.
    }
    list.replaceChildren(...pages.map(renderResult));
    status.textContent = fill(pages.length > 0 ? form.dataset.count : form.dataset.none, query, pages.length);
  } catch (error) {
    if (ticket === latest) {
      status.textContent = form.dataset.failed;
    }
    console.error(error);
  } finally {
    if (ticket === latest) {
      list.removeAttribute("aria-busy");
    }
  }
}

function updateAddress(query) {
  const url = new URL(window.location.href);
  if (query.trim() === "") {
    url.searchParams.delete("q");
  } else {
    url.searchParams.set("q", query.trim());
  }
  history.replaceState(null, "", url);
}

let timer = 0;
input.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(() => {
    updateAddress(input.value);
    search(input.value);
  }, 250);
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(timer);
  updateAddress(input.value);
  search(input.value);
});

const initial = new URLSearchParams(window.location.search).get("q") ?? "";
input.value = initial;
if (initial.trim() !== "") {
  search(initial);
} else {
  input.focus();
}
