// Sluice player page: the start's first requests (start-ahead.js) on a thread of their own,
// for a page that could not make them itself before its modules load (start-early.js: no
// config in the page, or ?early=worker). While dash.js (830 kB) compiles and runs its module
// on the page's main thread, no fetch the page started can be answered to its code there, so
// a chain of requests would wait for the compile however early its answers arrived.
//
// In: what startAhead takes (d). Out: its answer (or {error}), then one {prefetched: url,
// status, bytes, at, done} (or {prefetched, error}) as each start object has arrived.

// The config is asked for at once, before the page's message comes (it needs nothing of it).
const config = fetch('/config.json', { cache: 'no-store' }).then((r) => r.json());
importScripts('/start-segments.js', '/start-ahead.js');
const startedAt = startNow();

onmessage = async ({ data }) => {
  let out;
  try {
    out = await startAhead(data, config,
      (e, info) => postMessage({ prefetched: e.url, ...info }));
    out.startedAt = startedAt;
  } catch (e) {
    out = { error: String(e && e.message) };
  }
  postMessage(out);
};
