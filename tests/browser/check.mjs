// Headless Chromium checks of a built survey site, served by the Rust test
// in tests/browser.rs. Usage: node check.mjs CONFIG.json
//
// CONFIG.json: { base, chromium, artifacts, pages: [{ name, path }],
//   mathPages: [path], searches: [{ query, expected: [path], allowed: [path] }],
//   figures: { path: count } }, where `base` is the served site's root URL
// and every path is relative to it.
//
// For each page in light and dark colour schemes at phone and desktop
// widths the script saves a full-page screenshot. It checks that no request
// fails and no script error occurs, that every KaTeX formula has a layout
// box, that the figures of executed blocks load and contrast with the
// background of the scheme, and that axe-core finds no serious or critical accessibility
// violation. It then checks the skip link from the keyboard and types each
// query into the search box, expecting exactly the pages whose indexed text
// contains it. It prints a JSON report and exits with 1 when a check failed.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const VIEWPORTS = [
  { name: "phone", width: 390, height: 844 },
  { name: "desktop", width: 1440, height: 900 },
];
const SCHEMES = ["light", "dark"];
const BLOCKING_IMPACTS = new Set(["serious", "critical"]);

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const base = new URL(config.base);
const failures = [];
const report = { screenshots: [], mathBoxes: 0, axeRuns: 0, searches: [] };

function fail(where, message) {
  failures.push(`${where}: ${message}`);
}

/// Records failed requests, HTTP errors and script errors of `page` until
/// the returned function is called; that function returns them.
function watchProblems(page, allowedStatus = new Map()) {
  const problems = [];
  const onFailed = (request) => problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
  const onResponse = (response) => {
    const expected = allowedStatus.get(response.url());
    if (response.status() >= 400 && response.status() !== expected) {
      problems.push(`HTTP ${response.status()}: ${response.url()}`);
    }
  };
  const onConsole = (message) => {
    // Chromium also logs each HTTP error status; an expected one is no problem.
    if (message.type() === "error" && !allowedStatus.has(message.location().url)) {
      problems.push(`console error: ${message.text()}`);
    }
  };
  const onPageError = (error) => problems.push(`script error: ${error.message}`);
  page.on("requestfailed", onFailed);
  page.on("response", onResponse);
  page.on("console", onConsole);
  page.on("pageerror", onPageError);
  return () => {
    page.off("requestfailed", onFailed);
    page.off("response", onResponse);
    page.off("console", onConsole);
    page.off("pageerror", onPageError);
    return problems;
  };
}

async function open(page, url, scheme, viewport) {
  await page.emulateMedia({ colorScheme: scheme, media: "screen" });
  await page.setViewportSize({ width: viewport.width, height: viewport.height });
  const response = await page.goto(url, { waitUntil: "networkidle" });
  await page.evaluate(() => document.fonts.ready);
  return response;
}

async function checkMath(page, where) {
  const boxes = await page.$$eval(".katex", (elements) =>
    elements.map((element) => {
      const box = element.getBoundingClientRect();
      return { width: box.width, height: box.height, tex: element.querySelector("annotation")?.textContent ?? "" };
    }),
  );
  for (const box of boxes) {
    if (!(box.width > 0 && box.height > 0)) {
      fail(where, `formula ${JSON.stringify(box.tex)} has no layout size (${box.width}x${box.height})`);
    }
  }
  const katexFont = await page.evaluate(() => document.fonts.check("16px KaTeX_Main"));
  if (boxes.length > 0 && !katexFont) {
    fail(where, "the KaTeX_Main font did not load");
  }
  report.mathBoxes += boxes.length;
  return boxes.length;
}

async function checkAccessibility(page, where) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    // Rule tags: WCAG 2.x A and AA plus best practices.
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
  );
  report.axeRuns += 1;
  for (const violation of result.violations) {
    if (BLOCKING_IMPACTS.has(violation.impact)) {
      const targets = violation.nodes.slice(0, 5).map((node) => node.target.join(" ")).join("; ");
      fail(where, `axe ${violation.impact} ${violation.id}: ${violation.help} [${targets}]`);
    }
  }
}

/// Relative luminance of an sRGB colour (WCAG 2).
function luminance([r, g, b]) {
  const channel = (c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

function contrast(a, b) {
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (high + 0.05) / (low + 0.05);
}

/// Every figure of an executed block must load, carry alt text and be
/// readable in the current colour scheme: most of its pixels show the page's
/// background (the figure has none of its own), and its text and lines
/// contrast with that background at least 3:1.
async function checkFigures(page, where) {
  const figures = await page.$$("figure.exec-figure img");
  for (const [index, figure] of figures.entries()) {
    const info = await figure.evaluate((img) => ({
      src: img.getAttribute("src"),
      alt: img.alt,
      loaded: img.complete && img.naturalWidth > 0,
      // The page colour is the first opaque background up from the body.
      background: [document.body, document.documentElement]
        .map((element) => getComputedStyle(element).backgroundColor)
        .find((colour) => colour !== "rgba(0, 0, 0, 0)" && colour !== "transparent") ?? "rgb(255, 255, 255)",
    }));
    const name = `figure ${index + 1} (${info.src})`;
    if (!info.loaded) {
      fail(where, `${name} did not load`);
      continue;
    }
    if (info.alt.trim() === "") fail(where, `${name} has no alt text`);
    await figure.scrollIntoViewIfNeeded();
    const png = (await figure.screenshot()).toString("base64");
    const pixels = await page.evaluate(async (data) => {
      const image = new Image();
      image.src = `data:image/png;base64,${data}`;
      await image.decode();
      const canvas = document.createElement("canvas");
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext("2d");
      context.drawImage(image, 0, 0);
      return Array.from(context.getImageData(0, 0, image.width, image.height).data);
    }, png);
    const background = info.background.match(/\d+/g).slice(0, 3).map(Number);
    let same = 0;
    let ink = 0;
    const total = pixels.length / 4;
    for (let i = 0; i < pixels.length; i += 4) {
      const colour = [pixels[i], pixels[i + 1], pixels[i + 2]];
      const ratio = contrast(colour, background);
      if (ratio < 1.05) same += 1;
      else if (ratio >= 3) ink += 1;
    }
    if (same / total < 0.5) fail(where, `${name}: only ${(100 * same / total).toFixed(1)} % of it shows the page background`);
    if (ink / total < 0.005) fail(where, `${name}: almost nothing in it contrasts with the background (${(100 * ink / total).toFixed(2)} %)`);
    report.figures = (report.figures ?? 0) + 1;
  }
  return figures.length;
}

async function checkPages(context) {
  const page = await context.newPage();
  for (const { name, path: pagePath } of config.pages) {
    const url = new URL(pagePath, base).href;
    for (const scheme of SCHEMES) {
      for (const viewport of VIEWPORTS) {
        const where = `${name} (${scheme}, ${viewport.name})`;
        const stop = watchProblems(page);
        const response = await open(page, url, scheme, viewport);
        if (response?.status() !== 200) fail(where, `status ${response?.status()} for ${url}`);
        await checkMath(page, where);
        const figures = await checkFigures(page, where);
        if (figures < (config.figures?.[pagePath] ?? 0)) fail(where, `expected ${config.figures[pagePath]} figures, found ${figures}`);
        await checkAccessibility(page, where);
        const file = path.join(config.artifacts, `${name}-${scheme}-${viewport.name}.png`);
        await page.screenshot({ path: file, fullPage: true });
        report.screenshots.push(file);
        for (const problem of stop()) fail(where, problem);
      }
    }
  }
  await page.close();
}

async function checkMathPages(context) {
  const page = await context.newPage();
  for (const pagePath of config.mathPages) {
    const where = `${pagePath} (math)`;
    const stop = watchProblems(page);
    await open(page, new URL(pagePath, base).href, "light", VIEWPORTS[1]);
    if ((await checkMath(page, where)) === 0) fail(where, "expected KaTeX formulas on this page");
    for (const problem of stop()) fail(where, problem);
  }
  await page.close();
}

/// Emulates printing the first page in the dark scheme: the print rules
/// must hide navigation and search and print dark text on white.
async function checkPrint(context) {
  const page = await context.newPage();
  const { name, path: pagePath } = config.pages[1] ?? config.pages[0];
  const where = `${name} (print)`;
  const stop = watchProblems(page);
  await open(page, new URL(pagePath, base).href, "dark", VIEWPORTS[1]);
  await page.emulateMedia({ media: "print", colorScheme: "dark" });
  const printed = await page.evaluate(() => ({
    hidden: [".site-search", ".prev-next", ".site-footer", ".skip-link"].map((selector) => {
      const element = document.querySelector(selector);
      return element === null || getComputedStyle(element).display === "none";
    }),
    color: getComputedStyle(document.body).color,
    background: getComputedStyle(document.documentElement).backgroundColor,
  }));
  if (printed.hidden.includes(false)) fail(where, "navigation or search is printed");
  if (printed.color !== "rgb(0, 0, 0)") fail(where, `text is printed in ${printed.color}`);
  if (printed.background !== "rgb(255, 255, 255)") fail(where, `the page is printed on ${printed.background}`);
  await page.screenshot({ path: path.join(config.artifacts, `${name}-print.png`), fullPage: true });
  for (const problem of stop()) fail(where, problem);
  await page.close();
}

async function checkNotFound(context) {
  const page = await context.newPage();
  const url = new URL("no/such/page/", base).href;
  const where = "404 page";
  const stop = watchProblems(page, new Map([[url, 404]]));
  const response = await open(page, url, "light", VIEWPORTS[1]);
  if (response?.status() !== 404) fail(where, `status ${response?.status()} for ${url}, expected 404`);
  const styled = await page.evaluate(() => getComputedStyle(document.querySelector(".site-header")).borderBottomStyle);
  if (styled !== "solid") fail(where, "the stylesheet did not apply at a nested missing URL");
  await checkAccessibility(page, where);
  await page.screenshot({ path: path.join(config.artifacts, "404-light-desktop.png"), fullPage: true });
  for (const problem of stop()) fail(where, problem);
  await page.close();
}

/// Tabs through the start of the home page: the skip link comes first and
/// shows a focus outline, and following it moves to the main content.
async function checkKeyboard(context) {
  const page = await context.newPage();
  const where = "keyboard";
  const stop = watchProblems(page);
  await open(page, base.href, "light", VIEWPORTS[1]);
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    return { className: element.className, outline: style.outlineStyle, top: box.top, height: box.height };
  });
  if (first.className !== "skip-link") fail(where, `the first Tab focuses "${first.className}", not the skip link`);
  if (first.outline === "none") fail(where, "the focused skip link has no outline");
  if (!(first.top >= 0 && first.height > 0)) fail(where, "the focused skip link is not on screen");
  await page.screenshot({ path: path.join(config.artifacts, "keyboard-skip-link.png"), clip: { x: 0, y: 0, width: 800, height: 200 } });
  await page.keyboard.press("Enter");
  const target = await page.evaluate(() => ({ hash: location.hash, focused: document.activeElement?.id }));
  if (target.hash !== "#main") fail(where, `the skip link leads to "${target.hash}"`);
  await page.keyboard.press("Tab");
  const next = await page.evaluate(() => document.activeElement?.closest("main") !== null);
  if (!next) fail(where, "Tab after the skip link does not continue inside the main content");
  for (const problem of stop()) fail(where, problem);
  await page.close();
}

/// Types each query into the search box of the home page, submits it with
/// Enter and compares the listed pages with the expected ones.
async function checkSearch(context) {
  const page = await context.newPage();
  for (const { query, expected, allowed } of config.searches) {
    const where = `search ${JSON.stringify(query)}`;
    const stop = watchProblems(page);
    await open(page, base.href, "light", VIEWPORTS[1]);
    await page.focus("#site-search-input");
    await page.keyboard.type(query);
    await Promise.all([page.waitForURL((url) => url.pathname === `${base.pathname}search/`), page.keyboard.press("Enter")]);
    await page.waitForFunction(() => {
      const list = document.getElementById("search-results");
      const status = document.getElementById("search-status");
      return list && !list.hasAttribute("aria-busy") && status.textContent.length > 0 && !status.textContent.endsWith("…");
    });
    const hrefs = await page.$$eval("#search-results a", (links) => links.map((link) => link.getAttribute("href")));
    const found = hrefs.map((href) => new URL(href, page.url()));
    const paths = found.map((url) => url.pathname);
    report.searches.push({ query, results: paths });
    for (const url of found) {
      if (!url.pathname.startsWith(base.pathname)) fail(where, `result ${url.pathname} is outside ${base.pathname}`);
      const response = await page.request.get(url.href);
      if (response.status() !== 200) fail(where, `result ${url.href} returns ${response.status()}`);
    }
    const expectedPaths = expected.map((expectedPath) => new URL(expectedPath, base).pathname);
    for (const full of expectedPaths) {
      if (!paths.includes(full)) fail(where, `${full} contains the query but is not listed (listed: ${paths.join(", ")})`);
    }
    const allowedPaths = allowed.map((allowedPath) => new URL(allowedPath, base).pathname);
    for (const full of paths) {
      if (!allowedPaths.includes(full)) fail(where, `${full} is listed but contains neither the query nor all of its words`);
    }
    if (query === config.searches[0].query) {
      await checkAccessibility(page, `${where} results`);
      await page.screenshot({ path: path.join(config.artifacts, "search-light-desktop.png"), fullPage: true });
    }
    for (const problem of stop()) fail(where, problem);
  }
  await page.close();
}

mkdirSync(config.artifacts, { recursive: true });
const profile = mkdtempSync(path.join(tmpdir(), "survey-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Only the local server is contacted, over plain HTTP.
      "--disable-quic",
    ],
  });
  // Generous: on a 2-core CI machine the pages with many formulas and figures
  // can take tens of seconds to settle while other tests load the CPU.
  context.setDefaultTimeout(120_000);
  context.setDefaultNavigationTimeout(120_000);
  await checkPages(context);
  await checkMathPages(context);
  await checkPrint(context);
  await checkNotFound(context);
  await checkKeyboard(context);
  await checkSearch(context);
} catch (error) {
  fail("browser", error.stack ?? String(error));
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}

if (report.mathBoxes === 0) fail("math", "no KaTeX formula was measured on any page");
report.failures = failures;
writeFileSync(path.join(config.artifacts, "report.json"), JSON.stringify(report, null, 2));
console.log(JSON.stringify(report, null, 2));
process.exit(failures.length === 0 ? 0 : 1);
