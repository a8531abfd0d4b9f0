// The report page: draws what report_data.py computed. No network, no
// per-point objects beyond what plotly needs.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const ARRAYS = { u1: Uint8Array, u2: Uint16Array, i2: Int16Array, i4: Int32Array };

  function bytes(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }
  function typed(text, Type) {
    const raw = bytes(text);
    return new Type(raw.buffer, 0, raw.byteLength / Type.BYTES_PER_ELEMENT);
  }
  function decode(encoded) {
    return { names: encoded.names, codes: typed(encoded.codes, ARRAYS[encoded.dtype]) };
  }
  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }
  function shellQuote(text) {
    return /^[\w@%+=:,./-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\"'\"'") + "'";
  }

  const N = D.n;
  const X = typed(D.x, Float32Array);
  const Y = typed(D.y, Float32Array);
  const IDS = typed(D.ids, Int32Array);
  const ARTIST = decode(D.artist);
  const ALBUM = decode(D.album);
  const CATEGORIES = {};
  for (const [key, encoded] of Object.entries(D.categories)) CATEGORIES[key] = decode(encoded);
  const TAGS = typed(D.tags.codes, Uint16Array);
  const PER_ITEM = D.tags.per_item;
  const STRENGTHS = D.strengths.map((s) => ({ field: s.field, label: s.label, kind: s.kind, name: s.name, values: bytes(s.values) }));
  // The listener moods' strengths, for the selected track's strongest ones.
  const FELT = STRENGTHS.filter((s) => s.kind === "mood");
  const FELT_SHOWN = 3;
  const K = D.neighbours.k;
  const NEAR = typed(D.neighbours.rows, Int32Array);
  const NEAR_SIM = bytes(D.neighbours.similarity);
  // Below this similarity a neighbour is no more alike than two tracks
  // picked at random (similarity.RELATED): left out of the list, counted.
  // RELATED_COUNT: how many of each point's neighbours reach it (counted
  // on the exact similarities, not the bytes the page gets).
  const RELATED = D.neighbours.related;
  const RELATED_COUNT = bytes(D.neighbours.related_count);
  const PALETTE = ["#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#B68100",
    "#750D86", "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D",
    "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA",
    "#6C4516", "#0D2A63", "#AF0038", "#16A085"];
  const GREY = "#b8bec8";

  const artist = (i) => ARTIST.names[ARTIST.codes[i]];
  const album = (i) => ALBUM.names[ALBUM.codes[i]];
  const title = (i) => D.title_text[i];
  const label = (key, i) => {
    const c = CATEGORIES[key];
    const code = c.codes[i];
    return code >= 0 && code < c.names.length ? c.names[code] : "";
  };
  function topTags(i) {
    const out = [];
    for (let j = 0; j < PER_ITEM; j++) {
      const code = TAGS[i * PER_ITEM + j];
      if (code !== 65535) out.push(D.tags.names[code]);
    }
    return out;
  }
  function describe(i) {
    return (title(i) || "(no title)") + " — " + (artist(i) || "(no artist)");
  }

  const HOVER = new Array(N);
  const HAYSTACK = new Array(N);
  for (let i = 0; i < N; i++) {
    const tags = topTags(i);
    HOVER[i] = "<b>" + esc(title(i) || "(no title)") + "</b><br>" + esc(artist(i) || "(no artist)") +
      (album(i) ? " · <i>" + esc(album(i)) + "</i>" : "") +
      "<br>genre: " + esc(label("genre", i) || "—") + " · mood: " + esc(label("mood", i) || "—") +
      (label("energy", i) ? " · energy: " + esc(label("energy", i)) : "") +
      (tags.length ? "<br>tags: " + esc(tags.join(", ")) : "") +
      (label("family", i) ? "<br>family: " + esc(label("family", i)) : "");
    HAYSTACK[i] = (title(i) + "\u0001" + artist(i) + "\u0001" + album(i)).toLowerCase();
  }

  const mapDiv = document.getElementById("map");
  const colourSelect = document.getElementById("colour");
  const searchBox = document.getElementById("search");
  const matchesLabel = document.getElementById("matches");
  const familiesBox = document.getElementById("show-families");
  const markerSize = N > 20000 ? 3 : N > 5000 ? 4 : N > 500 ? 6 : 9;
  const narrow = () => window.matchMedia("(max-width: 900px)").matches;
  const state = { colour: "genre", matches: [], selected: -1, near: [], baseTraces: 0, family: -1 };

  const modes = [["genre", "genre"], ["mood", "mood"]];
  if (CATEGORIES.energy.names.some((n) => n)) modes.push(["energy", "energy"]);
  if (CATEGORIES.family.names.length) modes.push(["family", "family"]);
  STRENGTHS.forEach((s, j) => modes.push(["strength:" + j, "strength: " + s.label]));
  for (const [value, text] of modes) colourSelect.add(new Option(text, value));

  function pick(rows, source) {
    const out = new Array(rows.length);
    for (let j = 0; j < rows.length; j++) out[j] = source[rows[j]];
    return out;
  }
  function pickFloat(rows, source) {
    const out = new Float32Array(rows.length);
    for (let j = 0; j < rows.length; j++) out[j] = source[rows[j]];
    return out;
  }
  function pointsTrace(rows, name, marker, extra) {
    return Object.assign({
      type: "scattergl", mode: "markers", name: name,
      x: pickFloat(rows, X), y: pickFloat(rows, Y), customdata: rows,
      text: pick(rows, HOVER), hoverinfo: "text", marker: marker,
    }, extra || {});
  }

  function categoryTraces(key) {
    const c = CATEGORIES[key];
    const groups = new Map();
    for (let i = 0; i < N; i++) {
      const code = c.codes[i];
      const name = code >= 0 && code < c.names.length && c.names[code] ? c.names[code] : "";
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(i);
    }
    const named = [...groups.keys()].filter((n) => n);
    if (key === "family") named.sort((a, b) => c.names.indexOf(a) - c.names.indexOf(b));
    else named.sort((a, b) => groups.get(b).length - groups.get(a).length || (a < b ? -1 : 1));
    // Names with a colour of their own (the listener moods: data.py
    // MOOD_COLOURS) keep it; the others take the palette's, in order.
    const fixed = D.categories[key].colours || {};
    const traces = [];
    let other = groups.get("") || [], next = 0, left = 0;
    named.forEach((name) => {
      const colour = fixed[name] || (next < PALETTE.length ? PALETTE[next++] : null);
      if (colour) {
        traces.push(pointsTrace(groups.get(name), name + " (" + groups.get(name).length + ")",
          { size: markerSize, color: colour, opacity: 0.85 }));
      } else { other = other.concat(groups.get(name)); left++; }
    });
    if (other.length) {
      const what = key === "family" ? "in no family" : left ? "other / none" : "none";
      traces.push(pointsTrace(other, what + " (" + other.length + ")", { size: markerSize, color: GREY, opacity: 0.7 }));
    }
    return traces;
  }

  function strengthTraces(j) {
    const values = STRENGTHS[j].values;
    const present = [], missing = [];
    for (let i = 0; i < N; i++) (values[i] === 255 ? missing : present).push(i);
    const colours = new Float32Array(present.length);
    present.forEach((i, k) => { colours[k] = values[i] / 254; });
    const traces = [pointsTrace(present, STRENGTHS[j].label, {
      size: markerSize, color: colours, colorscale: "Viridis", cmin: 0, cmax: 1, opacity: 0.85,
      colorbar: { title: { text: "strength" }, thickness: 12, len: 0.6 },
    }, { showlegend: false })];
    if (missing.length) traces.push(pointsTrace(missing, "no value (" + missing.length + ")", { size: markerSize, color: GREY }));
    return traces;
  }

  function overlayTraces() {
    const matches = state.matches;
    const near = state.near, chosen = [];
    if (state.selected >= 0) chosen.push(state.selected);
    return [
      pointsTrace(matches, "search matches", { size: markerSize + 6, color: "rgba(0,0,0,0)", line: { color: "#d6336c", width: 2 } }, { showlegend: false }),
      pointsTrace(near, "nearest tracks", { size: markerSize + 5, color: "#ff9f1c", line: { color: "#1d2430", width: 1 } }, { showlegend: false }),
      pointsTrace(chosen, "selected", { size: markerSize + 10, color: "#ffffff", line: { color: "#1d2430", width: 3 }, symbol: "diamond" }, { showlegend: false }),
    ].concat(pathTraces());
  }

  // Family names ------------------------------------------------------------
  // Each name goes where it hides no point: the free spot nearest the middle
  // of its family (rings of growing radius around it), with a thin line to
  // the middle when it had to move. Free means no point's marker under the
  // label, no other label, not the legend nor the mode bar. Placed again
  // whenever the map's size or zoom changes.
  const LABEL_FONT = '"Open Sans", verdana, arial, sans-serif';
  const measure = document.createElement("canvas").getContext("2d");

  function labelSize(text, size) {
    measure.font = "bold " + size + "px " + LABEL_FONT;
    // text, the 2-px padding and 1-px border each side, and a little slack
    return { w: Math.ceil(measure.measureText(text).width) + 10, h: Math.ceil(size * 1.3) + 8 };
  }

  // Points per cell of a grid over the plot area, as a summed-area table.
  function pointGrid(full, cell) {
    const W = full._size.w, H = full._size.h;
    const gw = Math.ceil(W / cell) + 1, gh = Math.ceil(H / cell) + 1, stride = gw + 1;
    const sums = new Int32Array(stride * (gh + 1));
    for (let i = 0; i < N; i++) {
      const px = full.xaxis.l2p(X[i]), py = full.yaxis.l2p(Y[i]);
      if (!(px >= 0 && py >= 0 && px <= W && py <= H)) continue;
      sums[(Math.floor(py / cell) + 1) * stride + Math.floor(px / cell) + 1]++;
    }
    for (let y = 1; y <= gh; y++) {
      for (let x = 1; x <= gw; x++) {
        const k = y * stride + x;
        sums[k] += sums[k - 1] + sums[k - stride] - sums[k - stride - 1];
      }
    }
    // points whose centre is in the pixel box [x0, x1] x [y0, y1]
    return function count(x0, y0, x1, y1) {
      const cx0 = Math.max(0, Math.floor(x0 / cell)), cy0 = Math.max(0, Math.floor(y0 / cell));
      const cx1 = Math.min(gw - 1, Math.floor(x1 / cell)), cy1 = Math.min(gh - 1, Math.floor(y1 / cell));
      if (cx1 < cx0 || cy1 < cy0) return 0;
      return sums[(cy1 + 1) * stride + cx1 + 1] - sums[cy0 * stride + cx1 + 1] -
        sums[(cy1 + 1) * stride + cx0] + sums[cy0 * stride + cx0];
    };
  }

  // Boxes (plot-area pixels) that labels must leave free: legend, mode bar.
  function occupiedBoxes(full) {
    const origin = mapDiv.getBoundingClientRect();
    const left = origin.left + full._size.l, top = origin.top + full._size.t;
    const out = [];
    for (const selector of [".legend", ".modebar"]) {
      const element = mapDiv.querySelector(selector);
      if (!element) continue;
      const r = element.getBoundingClientRect();
      if (r.width && r.height) out.push({ x0: r.left - left, y0: r.top - top, x1: r.right - left, y1: r.bottom - top });
    }
    return out;
  }

  function familyAnnotations() {
    const full = mapDiv._fullLayout;
    if (!familiesBox.checked || !D.families.length || !full || !full._size) return [];
    const W = full._size.w, H = full._size.h;
    const fontSize = narrow() ? 10 : 12;
    const reach = markerSize / 2 + 1; // a marker's radius, and a pixel
    const count = pointGrid(full, 2);
    const taken = occupiedBoxes(full);
    const overlaps = (a) => taken.some((b) => a.x0 < b.x1 + 2 && b.x0 < a.x1 + 2 && a.y0 < b.y1 + 2 && b.y0 < a.y1 + 2);
    const largest = Math.hypot(W, H);
    return D.families.map((f, j) => {
      const cx = full.xaxis.l2p(f.x), cy = full.yaxis.l2p(f.y);
      const size = labelSize(f.name, fontSize);
      let best = null;
      for (let radius = 0; radius <= largest && !(best && best.hidden === 0); radius += 6) {
        const steps = radius === 0 ? 1 : Math.max(8, Math.round((2 * Math.PI * radius) / 10));
        for (let s = 0; s < steps; s++) {
          const angle = (s / steps) * 2 * Math.PI;
          const x = cx + radius * Math.cos(angle), y = cy + radius * Math.sin(angle);
          const box = { x0: x - size.w / 2, y0: y - size.h / 2, x1: x + size.w / 2, y1: y + size.h / 2 };
          if (box.x0 < 0 || box.y0 < 0 || box.x1 > W || box.y1 > H || overlaps(box)) continue;
          const hidden = count(box.x0 - reach, box.y0 - reach, box.x1 + reach, box.y1 + reach);
          if (!best || hidden < best.hidden) best = { hidden: hidden, x: x, y: y, box: box };
        }
      }
      const at = best || { x: cx, y: cy, box: null };
      if (at.box) taken.push(at.box);
      const moved = Math.hypot(at.x - cx, at.y - cy) > 0.5;
      return {
        x: f.x, y: f.y, text: "<b>" + esc(f.name) + "</b>",
        showarrow: moved, ax: at.x - cx, ay: at.y - cy, axref: "pixel", ayref: "pixel",
        arrowhead: 0, arrowwidth: 1, arrowcolor: "rgba(29,36,48,0.6)", standoff: 0,
        font: { size: fontSize, color: "#1d2430", family: LABEL_FONT },
        bgcolor: "rgba(255,255,255,0.92)", bordercolor: PALETTE[j] || GREY, borderwidth: 1,
        borderpad: 2, captureevents: false,
      };
    });
  }

  function layout() {
    const small = narrow();
    return {
      margin: { l: 4, r: 4, t: 4, b: 4 },
      xaxis: { visible: false, showgrid: false, zeroline: false },
      yaxis: { visible: false, showgrid: false, zeroline: false, scaleanchor: small ? undefined : undefined },
      hovermode: "closest", dragmode: "pan", uirevision: "map",
      showlegend: true,
      legend: small
        ? { orientation: "h", x: 0, y: -0.02, yanchor: "top", font: { size: 10 }, itemsizing: "constant" }
        : { x: 1, xanchor: "right", y: 0.93, bgcolor: "rgba(255,255,255,0.8)", font: { size: 11 }, itemsizing: "constant" },
      annotations: familyAnnotations(),
      paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      hoverlabel: { align: "left" },
    };
  }

  // Not plotly's `responsive`: see fitToBox below.
  const mapConfig = { responsive: false, displaylogo: false, scrollZoom: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"] };

  function baseTraces() {
    const mode = state.colour;
    return mode.startsWith("strength:") ? strengthTraces(Number(mode.slice(9))) : categoryTraces(mode);
  }

  function drawMap() {
    const base = baseTraces();
    state.baseTraces = base.length;
    dimBase(base);
    return Plotly.react(mapDiv, base.concat(overlayTraces()), layout(), mapConfig);
  }

  function dimBase(traces) {
    const dim = state.matches.length > 0 || state.family >= 0;
    for (const t of traces) t.marker.opacity = dim ? 0.18 : t.marker.color === GREY ? 0.7 : 0.85;
  }

  // The family names placed for the map as drawn now (its size and zoom).
  let labelling = false;
  function relabel() {
    labelling = true;
    return Plotly.relayout(mapDiv, { annotations: familyAnnotations() }).finally(() => { labelling = false; });
  }

  function redrawOverlays() {
    const data = mapDiv.data.slice(0, state.baseTraces);
    dimBase(data);
    return Plotly.react(mapDiv, data.concat(overlayTraces()), layout(), mapConfig);
  }

  function search(text) {
    const q = text.trim().toLowerCase();
    state.matches = [];
    state.family = -1;
    markFamily();
    if (q) for (let i = 0; i < N; i++) if (HAYSTACK[i].includes(q)) state.matches.push(i);
    matchesLabel.textContent = q ? state.matches.length + (state.matches.length === 1 ? " match" : " matches") : "";
    return redrawOverlays();
  }

  function highlightFamily(number) {
    state.family = state.family === number ? -1 : number;
    state.matches = [];
    if (state.family >= 0) {
      const codes = CATEGORIES.family.codes;
      for (let i = 0; i < N; i++) if (codes[i] === state.family) state.matches.push(i);
      matchesLabel.textContent = state.matches.length + " in " + D.families[state.family].name;
    } else matchesLabel.textContent = "";
    searchBox.value = "";
    markFamily();
    return redrawOverlays();
  }
  function markFamily() {
    document.querySelectorAll("#families li").forEach((li, j) => li.classList.toggle("on", j === state.family));
  }

  function similarCommand(row, count) {
    let command = "beet musicnn-similar -n " + count + " id:" + IDS[row];
    if (D.similar_command.where) command += " --where " + shellQuote(D.similar_command.where);
    return command + " --m3u sounds-like-" + IDS[row] + ".m3u";
  }

  // The track's strongest listener moods with their strengths (0..1), the
  // strongest first: "powerful 0.93 · sad 0.89 · joyful 0.46".
  function feltRow(row) {
    const felt = FELT.filter((s) => s.values[row] !== 255)
      .map((s) => [s.name, s.values[row] / 254])
      .sort((a, b) => b[1] - a[1]).slice(0, FELT_SHOWN);
    if (!felt.length) return "";
    return '<dt>felt</dt><dd id="felt">' +
      felt.map(([name, value]) => esc(name) + " " + value.toFixed(2)).join(" · ") + "</dd>";
  }

  function select(row) {
    state.selected = row;
    const box = document.getElementById("selected");
    const tags = topTags(row);
    let html = '<p class="track">' + esc(title(row) || "(no title)") + "</p><dl>" +
      "<dt>artist</dt><dd>" + esc(artist(row) || "—") + "</dd>" +
      "<dt>album</dt><dd>" + esc(album(row) || "—") + "</dd>" +
      "<dt>genre</dt><dd>" + esc(label("genre", row) || "—") + "</dd>" +
      "<dt>mood</dt><dd>" + esc(label("mood", row) || "—") + "</dd>" +
      feltRow(row) +
      (label("energy", row) ? "<dt>energy</dt><dd>" + esc(label("energy", row)) + "</dd>" : "") +
      "<dt>tags</dt><dd>" + esc(tags.join(", ") || "—") + "</dd>" +
      "<dt>family</dt><dd>" + esc(label("family", row) || "none") + "</dd>" +
      "<dt>id</dt><dd>" + IDS[row] + "</dd></dl>";
    // The nearest first; those below RELATED are left out, and counted.
    const near = [];
    for (let j = 0; j < RELATED_COUNT[row]; j++) near.push([NEAR[row * K + j], (NEAR_SIM[row * K + j] / 254) * 2 - 1]);
    state.near = near.map((n) => n[0]);
    html += "<h2>Sounds most like it</h2>";
    if (near.length) {
      html += '<ol class="near" id="near">' + near.map(([other, similarity]) =>
        '<li data-row="' + other + '"><span class="sim">' + similarity.toFixed(2) + "</span>" + esc(describe(other)) + "</li>").join("") + "</ol>";
    } else html += '<p class="hint" id="near-none">No other track sounds like it.</p>';
    const left = K - near.length;
    if (left > 0) {
      html += '<p class="hint" id="unrelated">' + (near.length ? left + " more of the " + K + " nearest " + (left === 1 ? "is" : "are") : "The " + left + " nearest are") +
        " left out as unrelated: below a similarity of " + RELATED.toFixed(2) + " tracks are no more alike than two picked at random.</p>";
    }
    if (near.length) html += "<p class=\"hint\">As a playlist:</p><pre class=\"command\" id=\"command\">" + esc(similarCommand(row, near.length)) + "</pre>";
    box.innerHTML = html;
    box.querySelectorAll("#near li").forEach((li) => li.addEventListener("click", () => select(Number(li.dataset.row))));
    renderPathSection(box, row);
    if (narrow()) document.getElementById("panel").scrollIntoView({ behavior: "smooth", block: "start" });
    return redrawOverlays();
  }

  // Sonic paths -----------------------------------------------------------
  // A port of beetsplug/musicnn/sound/paths.py (locate, stone_scores, find_path
  // without caps), on the vectors of report/data.py path_vectors: the page
  // draws the path that `beet musicnn-path` lists. Keep the two in step.
  const PATHS = D.path;
  const PATH_DIMS = PATHS.dims;
  let pathUnit = null;
  state.path = null;
  state.picking = false;

  // Unit vectors, decoded on first use (16-bit codes times each axis's scale).
  function pathVectors() {
    if (pathUnit) return pathUnit;
    const k = PATH_DIMS, codes = typed(PATHS.codes, Int16Array), scale = PATHS.scale;
    pathUnit = new Float64Array(N * k);
    for (let i = 0; i < N; i++) {
      let norm = 0;
      for (let j = 0; j < k; j++) {
        const v = codes[i * k + j] * scale[j];
        pathUnit[i * k + j] = v;
        norm += v * v;
      }
      norm = Math.max(Math.sqrt(norm), 1e-300);
      for (let j = 0; j < k; j++) pathUnit[i * k + j] /= norm;
    }
    return pathUnit;
  }
  function pathDot(u, i, j) {
    const k = PATH_DIMS;
    let sum = 0;
    for (let c = 0; c < k; c++) sum += u[i * k + c] * u[j * k + c];
    return sum;
  }
  function poolSize(count) {
    return Math.min(Math.max(PATHS.pool.per_track * count, PATHS.pool.min), PATHS.pool.max);
  }
  // paths.locate: progress along the great circle from FROM to TO, distance
  // off its plane, and whether the track lies between.
  function locate(simFrom, simTo, c) {
    c = Math.min(Math.max(c, -1), 1);
    const sine = Math.sqrt(Math.max(1 - c * c, 0)), angle = Math.acos(c), n = simFrom.length;
    const off = new Float64Array(n), between = new Uint8Array(n);
    if (sine < 1e-9) return { off: off.fill(1), between: between };
    for (let i = 0; i < n; i++) {
      const a = simFrom[i], b = simTo[i], across = (b - c * a) / sine;
      const progress = Math.atan2(across, a) / angle;
      off[i] = Math.sqrt(Math.max(1 - a * a - across * across, 0));
      between[i] = progress > 0 && progress < 1 && a > c && b > c ? 1 : 0;
    }
    return { off: off, between: between };
  }
  // The stepping stones: the tracks between, nearest the plane first (ties:
  // lower row first, as similarity.ranked).
  function pathStones(u, from, to, count) {
    const simFrom = new Float64Array(N), simTo = new Float64Array(N);
    for (let i = 0; i < N; i++) { simFrom[i] = pathDot(u, i, from); simTo[i] = pathDot(u, i, to); }
    const place = locate(simFrom, simTo, simFrom[to]);
    const rows = [];
    for (let i = 0; i < N; i++) if (place.between[i]) rows.push(i);
    rows.sort((p, q) => place.off[p] - place.off[q] || p - q);
    return rows.slice(0, poolSize(count));
  }
  // paths.find_path (no caps): the largest step as small as possible over
  // paths of exactly `count` tracks (or the longest that fit), then the
  // smallest sum of squared steps; each step towards TO and no longer than
  // the direct jump.
  function planPath(u, rows, count) {
    const m = rows.length;
    const distance = new Float64Array(m * m), gram = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        const g = pathDot(u, rows[i], rows[j]);
        gram[i * m + j] = g;
        distance[i * m + j] = Math.sqrt(Math.max(2 - 2 * g, 0));
      }
    }
    const direct = distance[1];
    const allowed = new Uint8Array(m * m);
    for (let i = 0; i < m; i++) {
      if (i === 1) continue;
      for (let j = 1; j < m; j++) {
        allowed[i * m + j] = gram[m + j] > gram[m + i] && distance[i * m + j] <= direct ? 1 : 0;
      }
    }
    let worst = new Float64Array(m).fill(Infinity);
    worst[0] = 0;
    let bottleneck = Infinity, steps = 0;
    for (let k = 1; k < count; k++) {
      const next = new Float64Array(m).fill(Infinity);
      for (let i = 0; i < m; i++) {
        if (worst[i] === Infinity) continue;
        for (let j = 0; j < m; j++) {
          if (!allowed[i * m + j]) continue;
          const value = Math.max(worst[i], distance[i * m + j]);
          if (value < next[j]) next[j] = value;
        }
      }
      worst = next;
      if (worst[1] !== Infinity) { bottleneck = worst[1]; steps = k; }
    }
    if (steps === 0) return [0, 1];
    let total = new Float64Array(m).fill(Infinity);
    total[0] = 0;
    const cameFrom = [];
    for (let k = 0; k < steps; k++) {
      const next = new Float64Array(m).fill(Infinity), from = new Int32Array(m);
      for (let j = 0; j < m; j++) {
        for (let i = 0; i < m; i++) {
          const d = distance[i * m + j];
          if (!allowed[i * m + j] || d > bottleneck) continue;
          const value = total[i] + d * d;
          if (value < next[j]) { next[j] = value; from[j] = i; }
        }
      }
      cameFrom.push(from);
      total = next;
    }
    const path = [1];
    for (let k = steps - 1; k >= 0; k--) path.push(cameFrom[k][path[path.length - 1]]);
    return path.reverse();
  }
  // Rows of the page from `from` to `to`, `count` tracks at most.
  function sonicPath(from, to, count) {
    const u = pathVectors();
    const rows = [from, to].concat(pathStones(u, from, to, count));
    return planPath(u, rows, count).map((i) => rows[i]);
  }

  function pathCommand(path) {
    let command = "beet musicnn-path -n " + path.count + " id:" + IDS[path.from] + " id:" + IDS[path.to];
    if (PATHS.where) command += " --where " + shellQuote(PATHS.where);
    return command + " --m3u path-" + IDS[path.from] + "-to-" + IDS[path.to] + ".m3u";
  }
  function pathCount() {
    const input = document.getElementById("path-count");
    const value = input ? Math.round(Number(input.value)) : PATHS.count;
    return Math.min(Math.max(Number.isFinite(value) ? value : PATHS.count, 2), N);
  }
  function pickPathEnd(on) {
    state.picking = on;
    document.body.classList.toggle("picking", on);
    const button = document.getElementById("path-pick");
    if (button) {
      button.classList.toggle("on", on);
      button.textContent = on ? "Cancel" : "Pick the last track on the map";
    }
    const hint = document.getElementById("path-hint");
    if (hint) hint.textContent = on ? "Click or tap the track to end on (or search for it and press Enter)." : "";
    if (on && narrow()) mapDiv.scrollIntoView({ behavior: "smooth", block: "start" });
  }
  function pathTo(row) {
    const from = state.selected;
    pickPathEnd(false);
    if (from < 0 || row === from) return Promise.resolve();
    const count = pathCount();
    state.path = { from: from, to: row, count: count, rows: sonicPath(from, row, count) };
    renderPathSection(document.getElementById("selected"), from);
    if (narrow()) document.getElementById("path-section").scrollIntoView({ behavior: "smooth", block: "start" });
    return redrawOverlays();
  }
  function clearPath() {
    state.path = null;
    renderPathSection(document.getElementById("selected"), state.selected);
    return redrawOverlays();
  }
  function pathTraces() {
    const path = state.path;
    if (!path) return [];
    const rows = path.rows;
    return [
      pointsTrace(rows, "path", { size: markerSize + 3, color: "#0b7285", line: { color: "#ffffff", width: 1 } },
        { mode: "lines+markers", line: { color: "#0b7285", width: 2.5 }, showlegend: false }),
      pointsTrace([path.to], "path end", { size: markerSize + 12, color: "#0b7285", line: { color: "#1d2430", width: 2 }, symbol: "star" },
        { showlegend: false }),
    ];
  }
  function renderPathSection(box, row) {
    const old = document.getElementById("path-section");
    if (old) old.remove();
    if (N < 2 || row < 0) return;
    const section = document.createElement("section");
    section.id = "path-section";
    const path = state.path && state.path.from === row ? state.path : null;
    let html = "<h2>A path from here to…</h2>" +
      '<div class="path-controls"><label>tracks <input type="number" id="path-count" min="2" max="' + N +
      '" value="' + (path ? path.count : Math.min(PATHS.count, N)) + '"></label>' +
      '<button type="button" id="path-pick">Pick the last track on the map</button></div>' +
      '<p class="hint" id="path-hint"></p>';
    if (path) {
      html += '<p class="hint">From <b>' + esc(describe(path.from)) + "</b> to <b>" + esc(describe(path.to)) + "</b>, each track a small step towards the last:</p>";
      if (path.rows.length < path.count) {
        html += '<p class="hint" id="path-short">Only ' + path.rows.length + " of the " + path.count +
          " tracks fit: too few tracks lie between these two (each step must go towards the last track and be no longer than the jump between the two).</p>";
      }
      html += '<ol class="path" id="path-list">' + path.rows.map((r) => "<li>" + esc(describe(r)) + "</li>").join("") + "</ol>" +
        '<p class="hint">As a playlist:</p><pre class="command" id="path-command">' + esc(pathCommand(path)) + "</pre>";
      if (PATH_DIMS < PATHS.full_dims) {
        html += '<p class="hint">To keep this page small, it holds the ' + PATH_DIMS + " main of the " + PATHS.full_dims +
          " sound dimensions: the command's list may differ by a track or two.</p>";
      }
      html += '<button type="button" id="path-clear">Clear the path</button>';
    } else if (state.path) {  // drawn from another track: say which, offer to clear it
      html += '<p class="hint">The map shows the path from <b>' + esc(describe(state.path.from)) + "</b> to <b>" +
        esc(describe(state.path.to)) + '</b>.</p><button type="button" id="path-clear">Clear the path</button>';
    }
    section.innerHTML = html;
    box.appendChild(section);
    section.querySelector("#path-pick").addEventListener("click", () => pickPathEnd(!state.picking));
    section.querySelector("#path-count").addEventListener("change", () => { if (path) pathTo(path.to); });
    if (state.path) section.querySelector("#path-clear").addEventListener("click", clearPath);
    if (state.picking) pickPathEnd(true);
  }
  document.addEventListener("keydown", (event) => { if (event.key === "Escape" && state.picking) pickPathEnd(false); });

  // Charts -----------------------------------------------------------------
  const chartConfig = { responsive: false, displaylogo: false, displayModeBar: false };
  function chartLayout(extra) {
    return Object.assign({ margin: { l: 110, r: 12, t: 6, b: 34 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      font: { size: 11 }, bargap: 0.15 }, extra || {});
  }
  // colour: one for every bar, or a function of the bar's label.
  function countsChart(id, rows, colour) {
    const shown = rows.slice(0, 25);
    if (!shown.length) { document.getElementById(id).innerHTML = '<p class="empty">No labels.</p>'; return; }
    const colours = typeof colour === "function" ? shown.map((r) => colour(r[0])).reverse() : colour;
    Plotly.newPlot(id, [{ type: "bar", orientation: "h", y: shown.map((r) => r[0]).reverse(),
      x: shown.map((r) => r[1]).reverse(), marker: { color: colours }, hovertemplate: "%{y}: %{x}<extra></extra>" }],
      chartLayout({ margin: { l: 110, r: 12, t: 6, b: 10 }, yaxis: { automargin: true },
        xaxis: { automargin: true, title: { text: "tracks", standoff: 8 } } }), chartConfig);
  }

  function drawCharts() {
    const charts = D.charts;
    countsChart("chart-genre", charts.genre, "#2E91E5");
    // the listener moods in their colours on the map, no mood grey
    countsChart("chart-mood", charts.mood, (name) => charts.mood_colours[name] || (name === "(none)" ? GREY : "#E15F99"));
    if (charts.energy.length) countsChart("chart-energy", charts.energy, "#1CA71C");
    else document.getElementById("card-energy").style.display = "none";

    const fieldSelect = document.getElementById("histogram-field");
    charts.histograms.forEach((h, j) => fieldSelect.add(new Option(h.label, String(j))));
    const centres = charts.bins.slice(0, -1).map((b, j) => (b + charts.bins[j + 1]) / 2);
    function histogram() {
      const h = charts.histograms[Number(fieldSelect.value)];
      if (!h) { document.getElementById("chart-strength").innerHTML = '<p class="empty">No strengths stored.</p>'; return; }
      Plotly.react("chart-strength", [{ type: "bar", x: centres, y: h.counts, width: 1 / h.counts.length * 0.92,
        marker: { color: "#7a5af8" }, hovertemplate: "%{x:.2f}: %{y} tracks<extra></extra>" }],
        // automargin: the margins grow to hold the tick labels and titles
        // (a fixed bottom margin left the x title touching the edge, cut off)
        chartLayout({ margin: { l: 54, r: 10, t: 6, b: 10 },
          xaxis: { range: [0, 1], automargin: true, title: { text: h.axis, standoff: 8 } },
          yaxis: { automargin: true, title: { text: "tracks" } } }), chartConfig);
    }
    fieldSelect.addEventListener("change", histogram);
    histogram();

    const c = charts.coverage;
    Plotly.newPlot("chart-coverage", [{ type: "bar", orientation: "h", y: ["analysed", "not yet", "failed"],
      x: [c.analysed, c.not_analysed, c.failed], marker: { color: ["#1CA71C", "#b8bec8", "#FB0D0D"] },
      text: [c.analysed, c.not_analysed, c.failed].map(String), textposition: "auto",
      hovertemplate: "%{y}: %{x}<extra></extra>" }],
      chartLayout({ margin: { l: 70, r: 12, t: 6, b: 30 }, yaxis: { autorange: "reversed" } }), chartConfig);
    const failures = document.getElementById("failures");
    if (charts.failures.length) {
      failures.innerHTML = "<table class=\"failures\"><tr><td><b>why analysis failed</b></td><td class=\"n\"><b>tracks</b></td></tr>" +
        charts.failures.map((f) => "<tr><td>" + esc(f[0]) + '</td><td class="n">' + f[1] + "</td></tr>").join("") +
        "</table><p class=\"empty\">List them: <code>beet ls musicnn_error::.</code></p>";
    } else failures.innerHTML = '<p class="empty">No failed analyses.</p>';

    const list = document.getElementById("families");
    if (!D.families.length) list.innerHTML = '<li class="empty">No families' + (D.family_note ? ": " + esc(D.family_note) : "") + ".</li>";
    D.families.forEach((f, j) => {
      const li = document.createElement("li");
      li.innerHTML = '<span><span class="swatch" style="background:' + (PALETTE[j] || GREY) + '"></span>' + esc(f.name) +
        "</span><span>" + f.size + "</span>";
      li.title = "show on the map";
      li.addEventListener("click", () => highlightFamily(j));
      list.appendChild(li);
    });
    if (D.outliers) {
      const li = document.createElement("li");
      li.className = "empty";
      li.innerHTML = "<span>in no family" + (D.misfits ? " (" + D.misfits + " contradict the name of theirs)" : "") +
        "</span><span>" + D.outliers + "</span>";
      list.appendChild(li);
    }
  }

  // Wiring -------------------------------------------------------------------
  document.getElementById("summary").textContent = D.library + " · " + N.toLocaleString("en") + " analysed tracks · model " + D.model +
    (D.query ? " · query " + D.query : "") + " · " + D.families.length + " families · generated " + D.generated;
  colourSelect.addEventListener("change", () => { state.colour = colourSelect.value; drawMap(); });
  familiesBox.addEventListener("change", relabel);
  let timer = null;
  searchBox.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => search(searchBox.value), 150); });
  searchBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { clearTimeout(timer); search(searchBox.value).then(() => { if (state.matches.length) (state.picking ? pathTo : select)(state.matches[0]); }); }
  });

  const api = {
    state: state, ids: IDS, n: N, ready: false, errors: [],
    select: select, search: search, highlightFamily: highlightFamily,
    sonicPath: sonicPath, pathTo: pathTo, pickPathEnd: pickPathEnd,
    // Page coordinates (CSS pixels) of a point, for tests and tools.
    pointOnPage: function (row) {
      const full = mapDiv._fullLayout;
      const box = mapDiv.getBoundingClientRect();
      return { x: box.left + full._size.l + full.xaxis.l2p(X[row]), y: box.top + full._size.t + full.yaxis.l2p(Y[row]) };
    },
  };
  window.musicnnReport = api;

  // Sizes -------------------------------------------------------------------
  // Every plot follows its own box at once: a ResizeObserver runs before the
  // next paint, in the frame where the box changed. Plotly's `responsive`
  // redraws only 100 ms after a window "resize" event, so a page whose
  // viewport changed just before a screenshot (what `chromium --headless
  // --screenshot --window-size=390,...` does: it lays the page out 500 px
  // wide, Chromium's narrowest window, then shrinks the viewport to 390 px
  // and captures), a turned phone or a scrollbar that appears showed the old
  // drawing, its right part cut off. The map's family names are placed
  // again for the new size.
  const drawnSizes = new WeakMap();
  function boxSize(element) {
    const r = element.getBoundingClientRect();
    return Math.round(r.width) + "x" + Math.round(r.height);
  }
  const sizes = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const plot = entry.target;
      const size = boxSize(plot);
      if (!plot._fullLayout || drawnSizes.get(plot) === size) continue;
      drawnSizes.set(plot, size);
      const redrawn = Plotly.relayout(plot, { autosize: true });
      if (plot === mapDiv) redrawn.then(relabel);
    }
  });
  function fitToBox(plot) {
    drawnSizes.set(plot, boxSize(plot));
    sizes.observe(plot);
  }

  drawMap().then(() => {
    mapDiv.on("plotly_click", (event) => {
      const point = event.points && event.points[0];
      if (point && point.customdata !== undefined) (state.picking ? pathTo : select)(Number(point.customdata));
    });
    mapDiv.on("plotly_relayout", (event) => {
      if (!labelling && Object.keys(event).some((key) => /^(xaxis|yaxis|autosize)/.test(key))) relabel();
    });
    fitToBox(mapDiv);
    return relabel();
  }).then(() => {
    api.ready = true;
    api.renderMs = performance.now();
    document.body.dataset.ready = "1";
    drawCharts();
    document.querySelectorAll(".chart").forEach((chart) => { if (chart._fullLayout) fitToBox(chart); });
  });
})();
