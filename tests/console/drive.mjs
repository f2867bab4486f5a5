// Drives the console in headless Chromium (playwright-core, Debian's /usr/bin/chromium) the way an
// analyst does: sign in, open the newest alert, acknowledge it with a note, then visit every page.
// Usage: node drive.mjs BASE_URL TOKEN SCREENSHOT_DIR. Prints {"alert_id": …}; exits 1 on any page
// error, console error or Content-Security-Policy violation.
import { createRequire } from "node:module";
import path from "node:path";

// playwright-core from the folder tests/run.sh installed it in (NODE_PATH: its node_modules).
const require = createRequire(path.join(process.env.NODE_PATH, "..", "drive.cjs"));
const { chromium } = require("playwright-core");

const [base, token, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const problems = [];
const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
page.on("pageerror", (e) => problems.push("page error: " + e.message));
page.on("requestfailed", (r) => problems.push("request failed: " + r.url()));
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: false });

await page.goto(base + "/");
await page.fill("#token", token);
await shot("signin");
await page.click("#signin");
await page.waitForSelector("tbody tr.clickable");
await shot("alerts");
// The newest critical or high alert.
await page.goto(base + "/#/alerts?severity=high%2Ccritical");
await page.waitForSelector("tbody tr.clickable");
await page.click("tbody tr.clickable");
await page.waitForSelector("#set-status");
const alertId = decodeURIComponent(page.url().split("#/alerts/")[1]);
// The link a notification carries, opened in a new tab: sign in there, land on the alert.
const tab = await browser.newPage();
tab.on("pageerror", (e) => problems.push("page error: " + e.message));
await tab.goto(base + "/#/alerts/" + encodeURIComponent(alertId));
await tab.fill("#token", token);
await tab.click("#signin");
await tab.waitForSelector("#set-status");
await tab.close();
await page.selectOption("#new-status", "acknowledged");
await page.fill("#note", "checked in the console test");
await page.click("#set-status");
await page.waitForFunction(() => document.querySelector("#status")?.textContent === "acknowledged");
await shot("alert");
await page.click("text=User timeline ±2 h");
await page.waitForSelector("tbody tr");
await shot("timeline");
for (const [hash, name] of [["#/events", "events"], ["#/lockouts", "lockouts"], ["#/overview", "overview"]]) {
  await page.goto(base + "/" + hash);
  await page.waitForSelector("table");
  await shot(name);
}
await browser.close();
console.log(JSON.stringify({ alert_id: alertId, problems }));
process.exit(problems.length ? 1 : 0);
