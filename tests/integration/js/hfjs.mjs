// Runs one @huggingface/hub call the way a user's program would, and prints
// its result as JSON on stdout. Usage: node hfjs.mjs '<json request>'
//   {"op": "file", "repo", "path", "revision", "cacheDir", "hubUrl", "accessToken"?}
//   {"op": "snapshot", "repo", "revision", "cacheDir", "hubUrl", "accessToken"?}
// A failure prints {"error": message} and exits 1.
import { downloadFileToCacheDir, snapshotDownload } from "@huggingface/hub";

const req = JSON.parse(process.argv[2]);
const common = { repo: req.repo, revision: req.revision, cacheDir: req.cacheDir, hubUrl: req.hubUrl };
if (req.accessToken) common.accessToken = req.accessToken;
console.debug = () => {}; // the library logs every download there
try {
  let path;
  if (req.op === "file") path = await downloadFileToCacheDir({ ...common, path: req.path });
  else if (req.op === "snapshot") path = await snapshotDownload(common);
  else throw new Error(`unknown op ${req.op}`);
  process.stdout.write(JSON.stringify({ path }) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.message ? e.message : e) }) + "\n");
  process.exit(1);
}
