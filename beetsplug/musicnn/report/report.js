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
  const STRENGTHS = D.strengths.map((s) => ({ field: s.field, label: s.label, values: bytes(s.values) }));
  const K = D.neighbours.k;
  const NEAR = typed(D.neighbours.rows, Int32Array);
  const NEAR_SIM = bytes(D.neighbours.similarity);
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
  const state = { colour: "genre", matches: [], selected: -1, baseTraces: 0, family: -1 };

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
    const traces = [];
    let other = groups.get("") || [];
    named.forEach((name, j) => {
      if (j < PALETTE.length) {
        traces.push(pointsTrace(groups.get(name), name + " (" + groups.get(name).length + ")",
          { size: markerSize, color: PALETTE[j], opacity: 0.85 }));
      } else other = other.concat(groups.get(name));
    });
    if (other.length) {
      const what = key === "family" ? "in no family" : named.length > PALETTE.length ? "other / none" : "none";
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
    const near = [], chosen = [];
    if (state.selected >= 0) {
      chosen.push(state.selected);
      for (let j = 0; j < K; j++) near.push(NEAR[state.selected * K + j]);
    }
    return [
      pointsTrace(matches, "search matches", { size: markerSize + 6, color: "rgba(0,0,0,0)", line: { color: "#d6336c", width: 2 } }, { showlegend: false }),
      pointsTrace(near, "nearest tracks", { size: markerSize + 5, color: "#ff9f1c", line: { color: "#1d2430", width: 1 } }, { showlegend: false }),
      pointsTrace(chosen, "selected", { size: markerSize + 10, color: "#ffffff", line: { color: "#1d2430", width: 3 }, symbol: "diamond" }, { showlegend: false }),
    ];
  }

  function familyAnnotations() {
    if (!familiesBox.checked) return [];
    return D.families.map((f) => ({
      x: f.x, y: f.y, text: "<b>" + esc(f.name) + "</b>", showarrow: false,
      font: { size: narrow() ? 10 : 12, color: "#1d2430" }, bgcolor: "rgba(255,255,255,0.72)",
      borderpad: 2, captureevents: false,
    }));
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

  const mapConfig = { responsive: true, displaylogo: false, scrollZoom: true,
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

  function similarCommand(row) {
    let command = "beet musicnn-similar -n " + D.similar_command.count + " id:" + IDS[row];
    if (D.similar_command.where) command += " --where " + shellQuote(D.similar_command.where);
    return command + " --m3u sounds-like-" + IDS[row] + ".m3u";
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
      (label("energy", row) ? "<dt>energy</dt><dd>" + esc(label("energy", row)) + "</dd>" : "") +
      "<dt>tags</dt><dd>" + esc(tags.join(", ") || "—") + "</dd>" +
      "<dt>family</dt><dd>" + esc(label("family", row) || "none") + "</dd>" +
      "<dt>id</dt><dd>" + IDS[row] + "</dd></dl>";
    html += "<h2>Sounds most like it</h2><ol class=\"near\" id=\"near\">";
    for (let j = 0; j < K; j++) {
      const other = NEAR[row * K + j];
      const similarity = (NEAR_SIM[row * K + j] / 254) * 2 - 1;
      html += '<li data-row="' + other + '"><span class="sim">' + similarity.toFixed(2) + "</span>" + esc(describe(other)) + "</li>";
    }
    html += "</ol><p class=\"hint\">As a playlist:</p><pre class=\"command\" id=\"command\">" + esc(similarCommand(row)) + "</pre>";
    box.innerHTML = html;
    box.querySelectorAll("#near li").forEach((li) => li.addEventListener("click", () => select(Number(li.dataset.row))));
    if (narrow()) document.getElementById("panel").scrollIntoView({ behavior: "smooth", block: "start" });
    return redrawOverlays();
  }

  // Charts -----------------------------------------------------------------
  const chartConfig = { responsive: true, displaylogo: false, displayModeBar: false };
  function chartLayout(extra) {
    return Object.assign({ margin: { l: 110, r: 12, t: 6, b: 34 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      font: { size: 11 }, bargap: 0.15 }, extra || {});
  }
  function countsChart(id, rows, colour) {
    const shown = rows.slice(0, 25);
    if (!shown.length) { document.getElementById(id).innerHTML = '<p class="empty">No labels.</p>'; return; }
    Plotly.newPlot(id, [{ type: "bar", orientation: "h", y: shown.map((r) => r[0]).reverse(),
      x: shown.map((r) => r[1]).reverse(), marker: { color: colour }, hovertemplate: "%{y}: %{x}<extra></extra>" }],
      chartLayout({ yaxis: { automargin: true }, xaxis: { title: { text: "tracks" } } }), chartConfig);
  }

  function drawCharts() {
    const charts = D.charts;
    countsChart("chart-genre", charts.genre, "#2E91E5");
    countsChart("chart-mood", charts.mood, "#E15F99");
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
        chartLayout({ margin: { l: 44, r: 10, t: 6, b: 40 }, xaxis: { range: [0, 1], title: { text: "calibrated strength (share of the reference below)" } },
          yaxis: { title: { text: "tracks" } } }), chartConfig);
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
    if (!D.families.length) list.innerHTML = '<li class="empty">No families.</li>';
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
      li.innerHTML = "<span>in no family</span><span>" + D.outliers + "</span>";
      list.appendChild(li);
    }
  }

  // Wiring -------------------------------------------------------------------
  document.getElementById("summary").textContent = D.library + " · " + N.toLocaleString("en") + " analysed tracks · model " + D.model +
    (D.query ? " · query " + D.query : "") + " · " + D.families.length + " families · generated " + D.generated;
  colourSelect.addEventListener("change", () => { state.colour = colourSelect.value; drawMap(); });
  familiesBox.addEventListener("change", () => Plotly.relayout(mapDiv, { annotations: familyAnnotations() }));
  let timer = null;
  searchBox.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => search(searchBox.value), 150); });
  searchBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { clearTimeout(timer); search(searchBox.value).then(() => { if (state.matches.length) select(state.matches[0]); }); }
  });

  const api = {
    state: state, ids: IDS, n: N, ready: false, errors: [],
    select: select, search: search, highlightFamily: highlightFamily,
    // Page coordinates (CSS pixels) of a point, for tests and tools.
    pointOnPage: function (row) {
      const full = mapDiv._fullLayout;
      const box = mapDiv.getBoundingClientRect();
      return { x: box.left + full._size.l + full.xaxis.l2p(X[row]), y: box.top + full._size.t + full.yaxis.l2p(Y[row]) };
    },
  };
  window.musicnnReport = api;
  drawMap().then(() => {
    mapDiv.on("plotly_click", (event) => {
      const point = event.points && event.points[0];
      if (point && point.customdata !== undefined) select(Number(point.customdata));
    });
    api.ready = true;
    api.renderMs = performance.now();
    document.body.dataset.ready = "1";
    drawCharts();
  });
})();
