// Opens a local HTML page in Debian's Chromium through playwright-core and prints, as one JSON
// object, what test_stats_html.py checks: console errors, page errors, every request the page
// made, and what the page shows (headline, charts, tables). Also saves a full-page screenshot.
//
//   node open_page.cjs PAGE.html SHOT.png PROFILE_DIR
//
// NODE_PATH points at the npm clients' node_modules (tests/e2e/run.sh installs playwright-core
// there); LEX_CHROMIUM at the browser (default /usr/bin/chromium).
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
    const [page_file, shot, profile] = process.argv.slice(2);
    // A fresh profile, and nothing of Chromium's own that would reach the network.
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.LEX_CHROMIUM || '/usr/bin/chromium',
        headless: true,
        chromiumSandbox: false,
        args: [
            '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ],
        viewport: { width: 1100, height: 900 },
        deviceScaleFactor: 1,
    });
    const report = { console_errors: [], page_errors: [], requests: [] };
    const page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') report.console_errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => report.page_errors.push(String(e)));
    page.on('request', (r) => report.requests.push(r.url()));
    const url = 'file://' + path.resolve(page_file);
    await page.goto(url, { waitUntil: 'load' });
    Object.assign(report, await page.evaluate(() => {
        const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent : null; };
        const figures = [...document.querySelectorAll('figure')].map((f) => {
            const svg = f.querySelector('svg');
            const box = svg ? svg.getBoundingClientRect() : null;
            const label = svg && svg.getAttribute('aria-labelledby');
            return {
                id: f.id,
                title: text(`#${f.id} h2`),
                svg: !!svg,
                width: box ? box.width : 0,
                height: box ? box.height : 0,
                marks: svg ? svg.querySelectorAll('rect, path').length : 0,
                labelled_by_title: !!label && !!document.getElementById(label) && f.contains(document.getElementById(label)),
                axis_titles: svg ? [...svg.querySelectorAll('text.axis')].map((t) => t.textContent) : [],
                table_rows: f.querySelectorAll('table tbody tr').length,
                note: text(`#${f.id} p.note`),
            };
        });
        return {
            title: document.title,
            headline: text('#net-saving'),
            formula: text('#formula'),
            empty: text('#empty'),
            figures,
        };
    }));
    await page.screenshot({ path: shot, fullPage: true });
    await context.close();
    process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((e) => {
    process.stderr.write(String(e && e.stack || e) + '\n');
    process.exit(1);
});
