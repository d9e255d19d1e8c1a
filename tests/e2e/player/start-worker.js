// Sluice player page: the round trips a start needs first, made on a thread of their own.
// While dash.js (830 kB) compiles and runs its module on the page's main thread, no fetch the
// page started can be answered to its code there: the page's config, control's session (with
// the manifest inline) or a plain manifest would wait for the compile however early they
// arrived. Here they are made and read in parallel with it, and handed over in one message.
//
// In: {title, episode, profile, ipv6, src, newProfile}. Out: {config, configAt, session:
// {status, ok, body}, sessionAt, sessionRequestedAt, manifest: {url, text}, error}; times are
// absolute (performance.timeOrigin + now) so the page can put them on its own clock.

const now = () => performance.timeOrigin + performance.now();

async function run(d) {
  const out = {};
  const c = await (await fetch('/config.json', { cache: 'no-store' })).json();
  out.config = c;
  out.configAt = now();
  if (c.control && !d.src && d.title) {
    const base = d.ipv6 && c.controlAlt ? c.controlAlt : c.control;
    const body = { title: d.title, inline_manifest: true };
    if (d.episode) body.episode = d.episode;
    if (d.profile) body.profile = d.profile;
    else body.new_profile = d.newProfile;
    out.sessionRequestedAt = now();
    const r = await fetch(`${base}/v1/playback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
    let j = null;
    try { j = await r.json(); } catch { /* an empty or non-JSON answer */ }
    out.session = { status: r.status, ok: r.ok, body: j, asked: body };
    out.sessionAt = now();
  } else {
    // The manifest the page will play, found as the page finds it.
    let src = d.src;
    if (!src && d.title) {
      const t = (c.titles || []).find((x) => x.id === d.title);
      src = t ? t.manifest : `${c.edge}/${encodeURIComponent(d.title)}/manifest.mpd`;
    }
    if (src) {
      const r = await fetch(src);
      if (r.ok) out.manifest = { url: src, text: await r.text() };
    }
  }
  return out;
}

onmessage = async ({ data }) => {
  let out;
  try {
    out = await run(data);
  } catch (e) {
    out = { error: String(e && e.message) };
  }
  postMessage(out);
};
