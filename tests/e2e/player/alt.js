// Other players than dash.js on the same content: Shaka Player (DASH, or HLS) and hls.js
// (HLS). Used by the e2e tests to show an edge's output is not tuned to one player.
//
// Query parameters: player=shaka|hlsjs, src=MANIFEST_OR_PLAYLIST_URL.
// State for tests in window.sluiceAlt.state: ready, playing, errors[], frames, segments[].
(function () {
  'use strict';
  const params = new URLSearchParams(location.search);
  const which = params.get('player') || 'shaka';
  const src = params.get('src');
  const v = document.getElementById('video');
  const state = { which, src, ready: false, playing: false, errors: [], levels: [] };
  window.sluiceAlt = { state, player: null };
  document.getElementById('which').textContent = which;

  function fail(source, msg) {
    state.errors.push({ source, message: String(msg) });
    console.error(`[sluice-alt] ${source}: ${msg}`);
  }
  function load(url) {
    return new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = url;
      s.onload = resolve;
      s.onerror = () => reject(new Error(`cannot load ${url}`));
      document.head.append(s);
    });
  }
  v.addEventListener('playing', () => { state.playing = true; });
  v.addEventListener('error', () => fail('video', v.error ? `MediaError ${v.error.code}` : 'error'));
  setInterval(() => {
    document.getElementById('status').textContent =
      `${which} ${src}\ntime ${v.currentTime.toFixed(1)} s · playing ${state.playing}\n` +
      `errors: ${state.errors.map((e) => e.message).join('; ') || 'none'}`;
  }, 500);

  async function startShaka() {
    await load('/vendor/shaka/shaka-player.compiled.js');
    const shaka = window.shaka;
    shaka.polyfill.installAll();
    if (!shaka.Player.isBrowserSupported()) throw new Error('Shaka: browser not supported');
    const player = new shaka.Player();
    window.sluiceAlt.player = player;
    await player.attach(v);
    player.addEventListener('error', (e) => fail('shaka', `code ${e.detail && e.detail.code}`));
    player.addEventListener('adaptation', () => {
      const t = player.getVariantTracks().find((x) => x.active);
      if (t) state.levels.push({ height: t.height, bandwidth: t.videoBandwidth });
    });
    await player.load(src);
  }

  async function startHlsjs() {
    await load('/vendor/hlsjs/hls.min.js');
    const Hls = window.Hls;
    if (!Hls.isSupported()) throw new Error('hls.js: MSE not supported');
    const hls = new Hls({ enableWorker: true });
    window.sluiceAlt.player = hls;
    hls.on(Hls.Events.ERROR, (_ev, d) => {
      if (d.fatal) fail('hls.js', `${d.type}: ${d.details}`);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_ev, d) => {
      const l = hls.levels[d.level];
      if (l) state.levels.push({ height: l.height, bandwidth: l.bitrate });
    });
    hls.loadSource(src);
    hls.attachMedia(v);
  }

  (async () => {
    try {
      if (!src) throw new Error('no src= given');
      if (which === 'shaka') await startShaka();
      else if (which === 'hlsjs') await startHlsjs();
      else throw new Error(`unknown player ${which}`);
      await v.play().catch(() => {}); // muted autoplay; the 'playing' event is what counts
    } catch (e) {
      fail('page', e.message || e);
    }
    state.ready = true;
  })();
}());
