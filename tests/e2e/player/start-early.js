// Sluice player page: the page's first act, before dash.js (830 kB) and player.js load. It
// hands the start worker (start-worker.js) what it needs to ask for this page's start, so the
// config, control's session and the start's first objects are on their way while the modules
// download and compile; player.js takes the answer from self.sluiceEarly when it boots.
// A classic script (no module): it runs as soon as the parser reaches it.
//
// self.sluiceEarly: {sid, profileName, marks, answer, prefetch}
//   sid          the CMCD session id of this page's requests (the worker's too)
//   profileName  the name a first visit's profile is made with
//   marks        page-clock times of the start's steps; player.js adds its own to it
//   answer       resolves to the worker's answer (config, session or manifest), or null
//   prefetch     the start objects the worker fetches: {url, kind, fetched, status, bytes, ms}
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
  if (params.get('early') === 'off') return;

  // A start object has arrived in the worker (so in the browser's cache): when, on the page's
  // clock. A display and test aid.
  function arrived(d) {
    const p = early.prefetch.find((x) => x.url === d.prefetched);
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

  try {
    const w = new Worker('/start-worker.js');
    const p = params.get('profile') || localStorage.getItem('sluice-profile');
    early.marks['worker-start'] = performance.now();
    early.answer = new Promise((resolve) => {
      // The worker stays (idle, a few hundred kB): ended, the bodies it fetched would no
      // longer be there for the browser's developer tools (and the e2e tests' checks).
      w.onmessage = (m) => {
        const d = m.data || {};
        if (d.prefetched) {
          arrived(d);
          return;
        }
        early.prefetch = d.prefetch || [];
        if (d.startedAt) early.marks['worker-running'] = d.startedAt - performance.timeOrigin;
        if (d.loadedAt) early.marks['worker-loaded'] = d.loadedAt - performance.timeOrigin;
        resolve(!d.error ? d : null);
      };
      w.onerror = () => { resolve(null); };
    });
    w.postMessage({ title: params.get('title'), episode: params.get('episode'),
      profile: p ? Number(p) : null, newProfile: early.profileName, src: params.get('src'),
      ipv6: params.get('control') === 'ipv6', sid: early.sid,
      // Only where dash.js will start where the worker reckons (the session's start rung)
      // and its requests carry CMCD in the query, which the worker's then replace.
      prefetch: params.get('prefetch') !== 'off' && params.get('startbw') !== 'off' &&
        (params.get('cmcd') || 'query') === 'query' });
  } catch {
    early.answer = Promise.resolve(null);
  }
})();
