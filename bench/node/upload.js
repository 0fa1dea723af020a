// Sends request bodies' records through CleverTap's official Node.js library.
//
// The library builds its endpoint as https://<region>.api.clevertap.com/1 and keeps
// it on the client (`client.api.apiEndpoint`); node-fetch picks http or https from
// the URL, so pointing that property at the sandbox is all it takes. The library
// posts batches of at most 100 records, one after the other.
//
//     SANDBOX_URL=... CLEVERTAP_ACCOUNT_ID=... CLEVERTAP_PASSCODE=... \
//         node upload.js BODY.json...
"use strict";

const fs = require("fs");
const CleverTap = require("clevertap");

function recordsOf(paths) {
  return paths.flatMap((path) => JSON.parse(fs.readFileSync(path, "utf8")).d);
}

function clientFor(url) {
  const client = CleverTap.init(
    process.env.CLEVERTAP_ACCOUNT_ID,
    process.env.CLEVERTAP_PASSCODE,
    CleverTap.REGIONS.INDIA,
  );
  client.api.apiEndpoint = `${url}/1`;
  return client;
}

async function main() {
  const records = recordsOf(process.argv.slice(2));
  const client = clientFor(process.env.SANDBOX_URL);
  const started = process.hrtime.bigint();
  const answered = await client.upload(records, { batchSize: 100 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // The library unwraps a single answer from its array.
  const answers = Array.isArray(answered) ? answered : [answered];
  const processed = answers.reduce((sum, answer) => sum + (answer.processed || 0), 0);
  const failed = answers.filter((answer) => answer.status !== "success").length;
  const batches = answers.length;
  console.log(JSON.stringify({ records: records.length, seconds, batches, processed, failed }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
