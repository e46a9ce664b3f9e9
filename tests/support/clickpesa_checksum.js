// ClickPesa's checksum as its documentation computes it, to check ours against.
//
// `canonicalize` and `createPayloadChecksum` are copied from the JavaScript example of
// https://docs.clickpesa.com/home/checksum ("Generating Payload Checksum"): recursively
// sort all object keys, JSON.stringify the result compactly, HMAC-SHA256 it with the
// checksum key, hex digest. Per the same page's note, `checksum` and `checksumMethod`
// are removed from the payload before it is signed.
//
// Protocol: each stdin line is a JSON array [checksumKey, bodyText], where bodyText is
// the raw JSON text of a payload (so JSON.parse sees its numbers as written, e.g.
// 1000.00). Each stdout line is {"canonical": ..., "checksum": ...} or {"error": ...}.
// Usage: node tests/support/clickpesa_checksum.js < lines

const crypto = require("crypto");
const readline = require("readline");

function canonicalize(obj) {
  if (obj === null || typeof obj !== 'object') return obj;
  if (Array.isArray(obj)) {
    return obj.map(canonicalize);
  }
  return Object.keys(obj)
    .sort()
    .reduce((acc, key) => {
      acc[key] = canonicalize(obj[key]);
      return acc;
    }, {});
}

const createPayloadChecksum = (checksumKey, payload) => {
  const canonicalPayload = canonicalize(payload);
  const payloadString = JSON.stringify(canonicalPayload);
  const hmac = crypto.createHmac("sha256", checksumKey);
  hmac.update(payloadString);
  return hmac.digest("hex");
};

function answer(line) {
  const [checksumKey, bodyText] = JSON.parse(line);
  const payload = JSON.parse(bodyText);
  if (payload !== null && typeof payload === "object" && !Array.isArray(payload)) {
    delete payload.checksum;
    delete payload.checksumMethod;
  }
  return {
    canonical: JSON.stringify(canonicalize(payload)),
    checksum: createPayloadChecksum(checksumKey, payload),
  };
}

const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on("line", (line) => {
  let out;
  try {
    out = answer(line);
  } catch (err) {
    out = { error: String(err && err.message) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
});
