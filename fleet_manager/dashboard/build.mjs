// Build the dashboard into static/: the ES-module app bundled with Leaflet (from node_modules,
// never a CDN), its CSS with Leaflet's, Leaflet's images, and index.html; and the recipient tracking
// page into static/track/ (a bundle of its own, kept small: it is what recipients' phones load).
//   node build.mjs          build once
//   node build.mjs --check  build into a temporary folder and report sizes (used by the tests)
import { build } from "esbuild";
import { copyFile, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");
const outdir = check ? await mkdtemp(join(tmpdir(), "finalmile-dashboard-")) : join(here, "static");

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const bundle = {
  bundle: true,
  format: "esm",
  target: ["es2022"],
  sourcemap: true,
  minify: true,
  loader: { ".png": "file", ".svg": "file" },
  assetNames: "vendor/[name]-[hash]",
  logLevel: "warning",
  legalComments: "linked",
};
await build({
  ...bundle,
  entryPoints: { app: join(here, "src", "main.js"), style: join(here, "src", "styles.css") },
  outdir,
});
await copyFile(join(here, "src", "index.html"), join(outdir, "index.html"));
// The recipient tracking page (/t/<token>): its own small bundle, Leaflet's core and CSS only, in track/.
await build({
  ...bundle,
  entryPoints: [join(here, "src", "track", "track.js"), join(here, "src", "track", "track.css")],
  outdir: join(outdir, "track"),
});
await copyFile(join(here, "src", "track", "index.html"), join(outdir, "track", "index.html"));

let total = 0;
for (const name of await readdir(outdir, { recursive: true })) {
  const info = await stat(join(outdir, name));
  if (info.isFile()) total += info.size;
}
console.log(`dashboard built in ${outdir} (${(total / 1024).toFixed(0)} KiB)`);
if (check) await rm(outdir, { recursive: true, force: true });
