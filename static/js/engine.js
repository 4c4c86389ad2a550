// ShakeEngine: a multitrack player on the Web Audio API, shared by the stem player (stems.js)
// and the A/B compare (compare.js). Our own module rather than wavesurfer.js + its multitrack
// plugin: that plugin decodes every file whole in the browser before it plays and keeps one
// media element per track; this file is ~420 lines with no dependency and does what the pages
// need, nothing more.
//
// One AudioContext, one clock. Every track is cut into the same segments (2 s apart, and at the
// loop points), and each segment of every track is an AudioBufferSourceNode started at the same
// context time, so tracks cannot drift: they are frames of one schedule, not players kept in step.
//
// Long files are never decoded whole: PCM WAV and AIFF (what the stem player plays by
// preference) are read in 2-second byte ranges (HTTP Range on the output's play URL) a few
// seconds ahead of the playhead, converted to float samples here, and dropped once played, so
// memory stays at ~8 s of audio per track whatever the length (any length a WAV header can
// describe, 4 GB of data; RF64 is not read). Other formats (MP3, FLAC) are fetched and decoded
// whole with decodeAudioData before they play: fine for stems of a few minutes.
(function () {
  "use strict";

  const CHUNK_SECONDS = 2;
  const AHEAD_SECONDS = 3; // scheduled ahead of the clock
  const PREFETCH_CHUNKS = 3; // fetched ahead of the schedule
  const START_DELAY = 0.08; // from "play" to the first frame: time to start every node
  const RAMP = 0.005; // gain changes glide over 5 ms (no clicks on mute, solo, A/B)

  function ascii(view, at, length) {
    let s = "";
    for (let i = 0; i < length; i++) s += String.fromCharCode(view.getUint8(at + i));
    return s;
  }

  function extended80(view, at) {
    // IEEE 754 80-bit extended (AIFF's sample rate)
    const exponent = view.getUint16(at) & 0x7fff;
    const hi = view.getUint32(at + 2);
    const lo = view.getUint32(at + 6);
    return (hi * 4294967296 + lo) * Math.pow(2, exponent - 16383 - 63);
  }

  async function fetchRange(url, start, end) {
    const response = await fetch(url, {
      headers: { Range: "bytes=" + start + "-" + (end - 1) },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
    const data = await response.arrayBuffer();
    // a 200 is the whole file (a server that ignores Range): keep only what was asked for
    return response.status === 206 ? data : data.slice(start, end);
  }

  // The layout of a PCM WAV or AIFF file from its first bytes, or null (another format).
  async function readLayout(url) {
    const head = await fetchRange(url, 0, 65536);
    const view = new DataView(head);
    if (view.byteLength < 12) return null;
    const riff = ascii(view, 0, 4);
    const kind = ascii(view, 8, 4);
    const wav = riff === "RIFF" && kind === "WAVE";
    const aiff = riff === "FORM" && (kind === "AIFF" || kind === "AIFC");
    if (!wav && !aiff) return null;
    const little = wav;
    const layout = { little: little, float: false, width: 0, channels: 0, rate: 0 };
    let at = 12;
    while (at + 8 <= view.byteLength) {
      const name = ascii(view, at, 4);
      const size = view.getUint32(at + 4, little);
      const body = at + 8;
      if (name === "fmt " && body + 16 <= view.byteLength) {
        let tag = view.getUint16(body, true);
        layout.channels = view.getUint16(body + 2, true);
        layout.rate = view.getUint32(body + 4, true);
        layout.width = view.getUint16(body + 14, true) / 8;
        if (tag === 0xfffe && size >= 40) tag = view.getUint16(body + 24, true);
        if (tag !== 1 && tag !== 3) return null;
        layout.float = tag === 3;
      } else if (name === "COMM" && body + 18 <= view.byteLength) {
        layout.channels = view.getInt16(body, false);
        layout.width = view.getInt16(body + 6, false) / 8;
        layout.rate = extended80(view, body + 8);
        if (kind === "AIFC" && size >= 22) {
          const compression = ascii(view, body + 18, 4);
          if (compression === "sowt") layout.little = true;
          else if (compression === "fl32" || compression === "FL32") {
            layout.float = true;
            layout.width = 4;
          } else if (compression !== "NONE" && compression !== "twos") return null;
        }
      } else if (name === "data" || name === "SSND") {
        let offset = body;
        let length = size;
        if (name === "SSND") {
          offset += 8 + view.getUint32(body, false);
          length -= 8;
        }
        if (!layout.channels || !layout.rate || [1, 2, 3, 4].indexOf(layout.width) < 0) return null;
        layout.offset = offset;
        layout.frameBytes = layout.width * layout.channels;
        layout.frames = Math.floor(length / layout.frameBytes);
        layout.aiff = aiff;
        return layout;
      }
      at = body + size + (size & 1);
    }
    return null; // the sample data starts beyond the first 64 KB: decode it whole instead
  }

  function toBuffer(context, layout, bytes) {
    const view = new DataView(bytes);
    const frames = Math.floor(bytes.byteLength / layout.frameBytes);
    const buffer = context.createBuffer(layout.channels, Math.max(frames, 1), layout.rate);
    const channels = [];
    for (let c = 0; c < layout.channels; c++) channels.push(buffer.getChannelData(c));
    const w = layout.width;
    const little = layout.little;
    let at = 0;
    for (let i = 0; i < frames; i++) {
      for (let c = 0; c < layout.channels; c++) {
        let v;
        if (w === 2) v = view.getInt16(at, little) / 32768;
        else if (w === 4 && layout.float) v = view.getFloat32(at, little);
        else if (w === 4) v = view.getInt32(at, little) / 2147483648;
        else if (w === 3) {
          const b0 = view.getUint8(at), b1 = view.getUint8(at + 1), b2 = view.getUint8(at + 2);
          let n = little ? (b2 << 16) | (b1 << 8) | b0 : (b0 << 16) | (b1 << 8) | b2;
          if (n & 0x800000) n -= 0x1000000;
          v = n / 8388608;
        } else v = layout.aiff ? view.getInt8(at) / 128 : (view.getUint8(at) - 128) / 128;
        channels[c][i] = v;
        at += w;
      }
    }
    return buffer;
  }

  // One track: where its samples come from, and its gain and pan nodes.
  function Track(engine, url) {
    this.engine = engine;
    this.url = url;
    this.layout = null;
    this.whole = null; // a decoded AudioBuffer for formats read whole
    this.chunks = new Map(); // chunk index -> Promise<AudioBuffer>
    this.duration = 0;
    this.volume = 1;
    this.audible = true;
    this.level = 1; // level matching (A/B)
    this.nodes = []; // scheduled {node, when, start, length}
  }

  Track.prototype.load = async function () {
    this.layout = await readLayout(this.url);
    if (this.layout) this.duration = this.layout.frames / this.layout.rate;
    return this;
  };

  Track.prototype.connect = function (context, destination) {
    this.gain = context.createGain();
    this.pan = context.createStereoPanner();
    this.gain.connect(this.pan);
    this.pan.connect(destination);
    this.applyGain(true);
  };

  Track.prototype.applyGain = function (now) {
    if (!this.gain) return;
    const value = this.audible ? this.volume * this.level : 0;
    const context = this.engine.context;
    if (now) this.gain.gain.value = value;
    else this.gain.gain.setTargetAtTime(value, context.currentTime, RAMP);
  };

  // The buffer holding file time `t` and the time of its first frame.
  Track.prototype.chunk = function (index) {
    const context = this.engine.context;
    if (!this.layout) {
      if (!this.whole) {
        this.whole = fetch(this.url, { credentials: "same-origin" })
          .then(function (r) { return r.arrayBuffer(); })
          .then(function (data) { return context.decodeAudioData(data); });
        const track = this;
        this.whole.then(function (buffer) { track.duration = buffer.duration; track.engine.changed(); });
      }
      return this.whole.then(function (buffer) { return { buffer: buffer, start: 0 }; });
    }
    if (!this.chunks.has(index)) {
      const layout = this.layout;
      const first = Math.min(Math.round(index * CHUNK_SECONDS * layout.rate), layout.frames);
      const last = Math.min(Math.round((index + 1) * CHUNK_SECONDS * layout.rate), layout.frames);
      const promise = last <= first
        ? Promise.resolve(null)
        : fetchRange(this.url, layout.offset + first * layout.frameBytes, layout.offset + last * layout.frameBytes)
            .then(function (bytes) { return toBuffer(context, layout, bytes); });
      this.chunks.set(index, promise.then(function (buffer) {
        return buffer && { buffer: buffer, start: first / layout.rate };
      }));
    }
    return this.chunks.get(index);
  };

  Track.prototype.forget = function (keep) {
    for (const index of Array.from(this.chunks.keys())) {
      if (!keep.has(index)) this.chunks.delete(index);
    }
  };

  Track.prototype.schedule = function (chunk, when, start, length) {
    if (!chunk || !this.gain) return;
    const offset = start - chunk.start;
    if (offset >= chunk.buffer.duration) return;
    const node = this.engine.context.createBufferSource();
    node.buffer = chunk.buffer;
    node.connect(this.gain);
    node.start(when, Math.max(offset, 0), length);
    const entry = { node: node, when: when, start: start, length: length };
    this.nodes.push(entry);
    const track = this;
    node.onended = function () {
      const i = track.nodes.indexOf(entry);
      if (i >= 0) track.nodes.splice(i, 1);
    };
  };

  Track.prototype.stop = function () {
    this.nodes.forEach(function (e) {
      e.node.onended = null;
      try { e.node.stop(); } catch (err) { /* never started */ }
      e.node.disconnect();
    });
    this.nodes = [];
  };

  // Where this track is in its file now: from the node playing at the context's time.
  Track.prototype.position = function (now) {
    for (const e of this.nodes) {
      if (e.when <= now && now < e.when + e.length) return e.start + (now - e.when);
    }
    return null;
  };

  function Engine(urls, options) {
    options = options || {};
    this.tracks = urls.map(function (url) { return new Track(this, url); }, this);
    this.listeners = [];
    this.context = null;
    this.playing = false;
    this.offset = 0; // file time when paused
    this.loop = null; // {start, end} in seconds
    this.looping = false;
    this.generation = 0;
    this.onerror = options.onerror || function () {};
  }

  Engine.prototype.load = async function () {
    await Promise.all(this.tracks.map(function (t) { return t.load(); }));
    const pcm = this.tracks.find(function (t) { return t.layout; });
    let context;
    try {
      // the first track's rate: its chunks then play unresampled, frame for frame
      context = new AudioContext(pcm ? { sampleRate: pcm.layout.rate } : {});
    } catch (err) {
      context = new AudioContext();
    }
    this.context = context;
    this.master = context.createGain();
    this.master.connect(context.destination);
    this.tracks.forEach(function (t) { t.connect(context, this.master); }, this);
    this.changed();
    return this;
  };

  Engine.prototype.duration = function () {
    return this.tracks.reduce(function (d, t) { return Math.max(d, t.duration); }, 0);
  };

  Engine.prototype.on = function (listener) { this.listeners.push(listener); };
  Engine.prototype.changed = function () {
    this.listeners.forEach(function (l) { l(this); }, this);
  };

  // The playhead: file time now (the first sounding track's; all are the same schedule).
  Engine.prototype.time = function () {
    if (!this.playing) return this.offset;
    const now = this.context.currentTime;
    if (now < this.anchorWhen) return this.anchorStart;
    for (const t of this.tracks) {
      const p = t.position(now);
      if (p !== null) return p;
    }
    return Math.min(this.cursor, this.duration());
  };

  // Every track's position at one instant of the context clock (null: silent there).
  Engine.prototype.positions = function () {
    const now = this.context.currentTime;
    return {
      now: now,
      rate: this.context.sampleRate,
      positions: this.tracks.map(function (t) { return t.position(now); }),
    };
  };

  Engine.prototype.play = async function () {
    if (this.playing || !this.context) return;
    await this.context.resume();
    this.playing = true;
    const generation = ++this.generation;
    let from = this.offset;
    if (from >= this.duration() - 0.01) from = this.loopActive() ? this.loop.start : 0;
    this.cursor = from;
    this.anchorStart = from; // until the nodes start, the playhead reads `from`
    this.anchorWhen = Infinity;
    // wait for the first chunk of every track, then start them all at one instant
    await Promise.all(this.tracks.map(function (t) { return t.chunk(Math.floor(from / CHUNK_SECONDS)); }));
    if (generation !== this.generation) return;
    this.anchorStart = from;
    this.anchorWhen = this.context.currentTime + START_DELAY;
    this.cursorWhen = this.anchorWhen;
    this.pump();
    const engine = this;
    this.timer = setInterval(function () { engine.pump(); }, 200);
    this.changed();
  };

  Engine.prototype.loopActive = function () {
    return this.looping && this.loop && this.loop.end - this.loop.start > 0.05;
  };

  // Schedule every track's next segments up to AHEAD_SECONDS past the clock, all at the same
  // context times; fetch the chunks after them.
  Engine.prototype.pump = async function () {
    const generation = this.generation;
    // one pump at a time per playback (a pump of a playback stopped meanwhile is no obstacle)
    if (!this.playing || this.pumping === generation) return;
    this.pumping = generation;
    try {
      const duration = this.duration();
      while (this.cursorWhen < this.context.currentTime + AHEAD_SECONDS) {
        if (this.loopActive() && (this.cursor >= this.loop.end || this.cursor < this.loop.start - 0.001)) {
          this.cursor = this.loop.start;
        }
        if (this.cursor >= duration - 1e-6) break;
        const index = Math.floor(this.cursor / CHUNK_SECONDS + 1e-9);
        let end = Math.min((index + 1) * CHUNK_SECONDS, duration);
        if (this.loopActive() && this.cursor < this.loop.end) end = Math.min(end, this.loop.end);
        const length = end - this.cursor;
        const chunks = await Promise.all(this.tracks.map(function (t) { return t.chunk(index); }));
        if (generation !== this.generation) return;
        const now = this.context.currentTime;
        if (this.cursorWhen < now + 0.02) {
          // a fetch came late: restart every track together a moment from now (a gap, no drift)
          this.tracks.forEach(function (t) { t.stop(); });
          this.cursorWhen = now + START_DELAY;
          this.anchorWhen = this.cursorWhen;
          this.anchorStart = this.cursor;
        }
        const when = this.cursorWhen;
        const start = this.cursor;
        this.tracks.forEach(function (t, i) { t.schedule(chunks[i], when, start, length); });
        this.cursor = end;
        this.cursorWhen = when + length;
      }
      this.prefetch();
      if (this.cursor >= duration - 1e-6 && !this.loopActive() && this.context.currentTime >= this.cursorWhen) {
        this.pause(duration);
      }
    } catch (err) {
      this.onerror(err);
      this.pause();
    } finally {
      if (this.pumping === generation) this.pumping = null;
    }
  };

  Engine.prototype.prefetch = function () {
    const base = Math.floor(this.cursor / CHUNK_SECONDS);
    const keep = new Set();
    for (let i = -1; i <= PREFETCH_CHUNKS; i++) keep.add(base + i);
    if (this.loopActive()) keep.add(Math.floor(this.loop.start / CHUNK_SECONDS));
    this.tracks.forEach(function (t) {
      t.forget(keep);
      keep.forEach(function (i) { if (i >= 0 && i * CHUNK_SECONDS < t.duration) t.chunk(i); });
    });
  };

  Engine.prototype.pause = function (at) {
    if (!this.playing) return;
    this.offset = at === undefined ? this.time() : at;
    this.playing = false;
    this.generation++;
    clearInterval(this.timer);
    this.tracks.forEach(function (t) { t.stop(); });
    this.changed();
  };

  Engine.prototype.toggle = function () {
    if (this.playing) this.pause();
    else this.play();
  };

  Engine.prototype.seek = function (seconds) {
    const time = Math.min(Math.max(seconds, 0), this.duration());
    const wasPlaying = this.playing;
    if (wasPlaying) this.pause();
    this.offset = time;
    if (wasPlaying) this.play();
    this.changed();
  };

  Engine.prototype.setLoop = function (start, end) {
    if (start === null) this.loop = null;
    else this.loop = { start: Math.min(start, end), end: Math.max(start, end) };
    this.reschedule();
  };

  Engine.prototype.setLooping = function (on) {
    this.looping = on;
    this.reschedule();
  };

  // A loop change takes effect at once: what was scheduled ahead is played again from now.
  Engine.prototype.reschedule = function () {
    if (this.playing) this.seek(this.time());
    else this.changed();
  };

  Engine.prototype.setMasterMuted = function (muted) {
    this.masterMuted = muted;
    if (this.master) this.master.gain.setTargetAtTime(muted ? 0 : 1, this.context.currentTime, RAMP);
    this.changed();
  };

  window.ShakeEngine = { Engine: Engine, CHUNK_SECONDS: CHUNK_SECONDS };
})();
