// Sluice player page: the page's first act, before dash.js (830 kB) and player.js load: the
// start's first requests (start-ahead.js: control's session and the start's first objects, or
// the manifest) set going while the modules download and compile. player.js takes their answer
// from self.sluiceEarly when it boots. serve.mjs puts this script into the page inline, after
// the page's config (self.sluiceConfig), start-segments.js and start-ahead.js, so that nothing
// is fetched before the requests start.
//
// The requests are made from here, the main thread: the session's answer is read, and the
// start objects are asked for, as soon as the main thread is free between the modules' compile
// steps. ?early=worker makes them from a worker instead (start-worker.js: a thread that the
// compile does not hold up, but that a cold browser takes 100-200 ms to start, and that fetches
// the config first); so does a page without the inline config. ?early=off: none; the page
// fetches its config and the session or manifest itself once dash.js has loaded.
//
// self.sluiceEarly: {sid, profileName, marks, answer, prefetch}
//   sid          the CMCD session id of this page's requests (the start objects' too)
//   profileName  the name a first visit's profile is made with
//   marks        page-clock times of the start's steps; player.js adds its own to it
//   answer       resolves to startAhead's answer (config, session or manifest), or null
//   prefetch     the start objects: {url, kind, fetched, status, bytes, ms, error}
(() => {
  const params = new URLSearchParams(location.search);
  const early = {
    sid: (self.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2),
    profileName: 'demo viewer',
    marks: {},
    answer: Promise.resolve(null),
    prefetch: [],
  };
  self.sluiceEarly = early;
  const mode = params.get('early');
  if (mode === 'off') return;

  // A start object has arrived (so it is in the browser's cache): when, on the page's clock.
  // A display and test aid.
  function arrived(p, d) {
    if (!p) return;
    p.status = d.status;
    p.bytes = d.bytes;
    p.error = d.error;
    if (d.done) {
      p.ms = [d.at - performance.timeOrigin, d.done - performance.timeOrigin];
      early.marks[`${p.kind}-prefetch-requested`] = p.ms[0];
      early.marks[`${p.kind}-prefetched`] = p.ms[1];
    }
  }
  // The profile and its key: both from the URL, or both as an earlier visit kept them.
  const stored = params.get('profile')
    ? [params.get('profile'), params.get('profile_key')]
    : [localStorage.getItem('sluice-profile'), localStorage.getItem('sluice-profile-key')];
  const d = { title: params.get('title'), episode: params.get('episode'),
    profile: stored[0] ? Number(stored[0]) : null, profileKey: stored[1] || null,
    newProfile: early.profileName, src: params.get('src'),
    ipv6: params.get('control') === 'ipv6', sid: early.sid,
    preflight: params.get('preflight') === 'on',
    // Only where dash.js will start where startAhead reckons (the session's start rung: no
    // startbw) and its requests carry CMCD in the query, which the start objects' then replace.
    prefetch: params.get('prefetch') !== 'off' && !params.get('startbw') &&
      (params.get('cmcd') || 'query') === 'query' };
  // A new renderer's first style, layout and paint take the main thread for ~50 ms about when
  // the session's answer comes in, and the answer waits for them before the start objects are
  // asked for. So the page is not rendered until then: the root is display: none (style next
  // to free, no layout) until the answer is read and the start objects asked for, or HOLD_MS
  // at most. ?paint=early renders at once (to measure it; docs/demo.md).
  const HOLD_MS = 1500;
  function holdRendering(on) {
    if (!on) return () => {};
    const root = document.documentElement;
    root.style.display = 'none';
    let timer = 0;
    const show = () => {
      clearTimeout(timer);
      root.style.removeProperty('display');
      early.marks['page-shown'] = performance.now();
    };
    timer = setTimeout(show, HOLD_MS);
    return show;
  }
  const taken = (out) => {
    early.prefetch = (out && out.prefetch) || [];
    return out;
  };
  early.marks['early-start'] = performance.now();

  if (self.sluiceConfig && self.startAhead && mode !== 'worker') {
    const shown = holdRendering(params.get('paint') !== 'early');
    early.answer = self.startAhead(d, Promise.resolve(self.sluiceConfig), arrived)
      .then(taken, () => null);
    early.answer.then(shown);
    return;
  }
  try {
    const w = new Worker('/start-worker.js');
    early.answer = new Promise((resolve) => {
      // The worker stays (idle, a few hundred kB): ended, the bodies it fetched would no
      // longer be there for the browser's developer tools (and the e2e tests' checks).
      w.onmessage = (m) => {
        const r = m.data || {};
        if (r.prefetched) {
          arrived(early.prefetch.find((x) => x.url === r.prefetched), r);
          return;
        }
        if (r.startedAt) early.marks['worker-running'] = r.startedAt - performance.timeOrigin;
        resolve(!r.error ? taken(r) : null);
      };
      w.onerror = () => { resolve(null); };
    });
    w.postMessage(d);
  } catch {
    early.answer = Promise.resolve(null);
  }
})();
