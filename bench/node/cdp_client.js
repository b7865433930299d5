// The Node contender of bench/bench_peers.py: a plain `ws` CDP client.
//
//   node cdp_client.js '{"url": "ws://...", "mode": "latency", "n": 2000}'
//
// Modes: latency (n sequential Runtime.evaluate("1+1"), per-command times), pipelined
// (n commands in flight at once), events (n Runtime.consoleAPICalled to a callback),
// call (n sequential calls of `method`/`params`, e.g. the 20 MB result or a screenshot).
// Prints one JSON object; times are measured inside this process (Node's start-up is not).
"use strict";

const WebSocket = require("ws");

const job = JSON.parse(process.argv[2]);
const ws = new WebSocket(job.url, { perMessageDeflate: false, maxPayload: 0 });
let nextId = 0;
const pending = new Map();
const listeners = new Map();

ws.on("message", (data) => {
  const msg = JSON.parse(data);
  if (msg.id !== undefined) {
    const resolve = pending.get(msg.id);
    if (resolve) {
      pending.delete(msg.id);
      resolve(msg);
    }
    return;
  }
  const fn = listeners.get(msg.method);
  if (fn) fn(msg);
});

function send(method, params) {
  const id = ++nextId;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params: params || {} }));
  });
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function latency(n) {
  for (let i = 0; i < Math.min(200, n); i++) await send("Runtime.evaluate", { expression: "1+1" });
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await send("Runtime.evaluate", { expression: "1+1" });
    samples.push(now() - t0);
  }
  return { samples };
}

async function pipelined(n) {
  const t0 = now();
  const all = [];
  for (let i = 0; i < n; i++) all.push(send("Runtime.evaluate", { expression: "1+1" }));
  await Promise.all(all);
  return { seconds: now() - t0 };
}

async function events(n) {
  const expression = job.expression;
  await send(job.enable || "Runtime.enable", {});
  let count = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  let t0 = 0;
  listeners.set("Runtime.consoleAPICalled", () => {
    count += 1;
    if (count === n) done(now());
  });
  t0 = now();
  send(job.flood_method || "Runtime.evaluate", job.flood_params || { expression });
  const t1 = await finished;
  listeners.delete("Runtime.consoleAPICalled");
  if (job.disable) {
    await send("Runtime.disable", {});
    await send("Runtime.discardConsoleEntries", {});
  }
  return { seconds: t1 - t0 };
}

async function call(n) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    const answer = await send(job.method, job.params);
    if (answer.error) throw new Error(JSON.stringify(answer.error));
    samples.push(now() - t0);
  }
  return { samples };
}

ws.on("open", async () => {
  try {
    const modes = { latency, pipelined, events, call };
    const result = await modes[job.mode](job.n);
    process.stdout.write(JSON.stringify(result) + "\n");
    ws.close();
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: String(err && err.stack || err) }) + "\n");
    process.exit(1);
  }
});
ws.on("error", (err) => {
  process.stdout.write(JSON.stringify({ error: String(err) }) + "\n");
  process.exit(1);
});
