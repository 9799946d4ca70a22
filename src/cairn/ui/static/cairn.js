// Cairn UI: metric charts (uPlot, data thinned by the server) and keyboard navigation.
(function () {
  "use strict";
  var prefix = document.body.dataset.prefix || "/ui";

  function fetchSeries(run, key, range, width) {
    var q = new URLSearchParams({ key: key, points: String(Math.max(200, Math.min(2500, width))) });
    if (range) { q.set("from", String(Math.floor(range[0]))); q.set("to", String(Math.ceil(range[1]))); }
    return fetch(prefix + "/runs/" + encodeURIComponent(run) + "/metric?" + q.toString(), {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error((body.error && body.error.message) || r.statusText); }
        return body;
      });
    });
  }

  function drawChart(fig) {
    if (fig.dataset.drawn) { return; }
    fig.dataset.drawn = "pending";
    var box = fig.querySelector(".plot");
    var width = Math.max(300, box.clientWidth || 440);
    var run = fig.dataset.run, key = fig.dataset.key;
    var full = null, plot = null, loading = false;

    function setData(series) {
      plot.setData([series.steps, series.values], false);
      plot.redraw();
    }
    fetchSeries(run, key, null, width).then(function (series) {
      full = series;
      var opts = {
        width: width, height: 220,
        scales: { x: { time: false } },
        series: [{ label: "step" }, { label: key, stroke: "#0b4f9c", width: 1.5, spanGaps: false }],
        axes: [{ stroke: "#222" }, { stroke: "#222" }],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        hooks: {
          setSelect: [function (u) {
            if (u.select.width < 2) { return; }
            var lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            if (loading) { return; }
            loading = true;
            fetchSeries(run, key, [lo, hi], width).then(function (s) {
              loading = false;
              if (s.steps.length) { plot.setData([s.steps, s.values]); }
            }, function () { loading = false; });
          }],
        },
      };
      plot = new uPlot(opts, [series.steps, series.values], box);
      box.addEventListener("dblclick", function () { if (full) { plot.setData([full.steps, full.values]); } });
      fig.dataset.points = String(series.steps.length);
      fig.dataset.total = String(series.total);
      fig.dataset.drawn = "1";
    }, function (err) {
      box.textContent = "Could not load " + key + ": " + err.message;
      fig.dataset.drawn = "error";
    });
  }

  // One listener for the whole session: boosted navigation swaps the table, not this.
  function tableKeys() {
    if (window.cairnKeys) { return; }
    window.cairnKeys = true;
    document.addEventListener("keydown", function (e) {
      var tag = (e.target && e.target.tagName) || "";
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) { return; }
      if (e.key === "/") {
        var f = document.querySelector("input[name=filter]");
        if (f) { f.focus(); e.preventDefault(); }
        return;
      }
      if (e.key !== "j" && e.key !== "k") { return; }
      var all = Array.prototype.slice.call(document.querySelectorAll("table#runs tbody tr[data-run]"));
      if (!all.length) { return; }
      var at = all.findIndex(function (r) { return r.classList.contains("cursor"); });
      if (at >= 0) { all[at].classList.remove("cursor"); }
      at = Math.max(0, Math.min(all.length - 1, at + (e.key === "j" ? 1 : -1)));
      all[at].classList.add("cursor");
      var link = all[at].querySelector("a");
      if (link) { link.focus(); }
      e.preventDefault();
    });
  }

  // Run colours: evenly spaced hues, dark enough to read on white.
  function colour(i, n) { return "hsl(" + Math.round((i * 360) / Math.max(n, 1)) + ",70%,38%)"; }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error((body.error && body.error.message) || r.statusText); }
          return body;
        });
      });
  }

  // Compare page: one uPlot chart per metric, one line per run (aligned by the server).
  function drawCompareChart(fig) {
    if (fig.dataset.drawn) { return; }
    fig.dataset.drawn = "pending";
    var box = fig.querySelector(".plot");
    var width = Math.max(300, box.clientWidth || 440);
    var url = fig.dataset.url + (fig.dataset.url.indexOf("?") < 0 ? "?" : "&") +
      new URLSearchParams({ key: fig.dataset.key, points: String(Math.min(2000, width)) }).toString();
    getJSON(url).then(function (s) {
      var n = s.runs.length;
      var series = [{ label: "step" }];
      var data = [s.steps];
      s.runs.forEach(function (r, i) {
        series.push({ label: r.name, stroke: colour(i, n), width: n > 50 ? 1 : 1.5, spanGaps: true });
        data.push(r.values);
      });
      new uPlot({
        width: width, height: 240,
        scales: { x: { time: false } },
        series: series,
        axes: [{ stroke: "#222" }, { stroke: "#222" }],
        legend: { show: n <= 20, live: true },
      }, data, box);
      fig.dataset.runs = String(n);
      fig.dataset.drawn = "1";
    }, function (err) {
      box.textContent = "Could not load " + fig.dataset.key + ": " + err.message;
      fig.dataset.drawn = "error";
    });
  }

  // Parallel coordinates on a plain canvas: axes left to right, one polyline per run.
  function drawParallel(canvas) {
    if (canvas.dataset.drawn) { return; }
    var source = document.getElementById("parallel-data");
    if (!source) { return; }
    var pc = JSON.parse(source.textContent);
    var axes = pc.axes, n = pc.names.length;
    var ratio = window.devicePixelRatio || 1;
    var W = canvas.clientWidth || 1200, H = 360;
    canvas.width = W * ratio; canvas.height = H * ratio;
    var ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    var left = 60, right = 60, top = 40, bottom = 30;
    var step = axes.length > 1 ? (W - left - right) / (axes.length - 1) : 0;
    var scales = axes.map(function (a) {
      if (a.kind === "cat") { return { lo: 0, hi: Math.max(1, a.labels.length - 1) }; }
      var vs = a.values.filter(function (v) { return v !== null; });
      var lo = Math.min.apply(null, vs), hi = Math.max.apply(null, vs);
      return { lo: vs.length ? lo : 0, hi: vs.length ? (hi > lo ? hi : lo + 1) : 1 };
    });
    function y(ai, v) { var s = scales[ai]; return top + (H - top - bottom) * (1 - (v - s.lo) / (s.hi - s.lo)); }
    var last = axes.length - 1;
    ctx.globalAlpha = n > 100 ? 0.35 : 0.8;
    ctx.lineWidth = 1;
    for (var r = 0; r < n; r++) {
      var cv = axes[last].values[r], s = scales[last];
      var t = cv === null ? 0.5 : (cv - s.lo) / (s.hi - s.lo);
      ctx.strokeStyle = "hsl(" + Math.round(220 - 190 * t) + ",80%," + Math.round(30 + 15 * t) + "%)";
      ctx.beginPath();
      var started = false;
      for (var a = 0; a < axes.length; a++) {
        var v = axes[a].values[r];
        if (v === null) { started = false; continue; }
        var px = left + a * step, py = y(a, v);
        if (started) { ctx.lineTo(px, py); } else { ctx.moveTo(px, py); started = true; }
      }
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#111"; ctx.strokeStyle = "#222"; ctx.font = "12px system-ui, sans-serif"; ctx.textAlign = "center";
    axes.forEach(function (ax, i) {
      var x = left + i * step;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, H - bottom); ctx.stroke();
      ctx.fillText(ax.name.length > 24 ? ax.name.slice(0, 23) + "…" : ax.name, x, top - 22);
      var s = scales[i];
      var hiText = ax.kind === "cat" ? ax.labels[ax.labels.length - 1] || "" : String(+s.hi.toPrecision(4));
      var loText = ax.kind === "cat" ? ax.labels[0] || "" : String(+s.lo.toPrecision(4));
      ctx.fillText(hiText, x, top - 6);
      ctx.fillText(loText, x, H - bottom + 16);
    });
    canvas.dataset.drawn = "1";
  }

  // Monitoring page: drift, share drifted and performance per window (uPlot, time axis).
  function drawMonitoring(fig) {
    if (fig.dataset.drawn) { return; }
    var source = document.getElementById("monitoring-data");
    if (!source) { return; }
    var m = JSON.parse(source.textContent), box = fig.querySelector(".plot");
    var lines = [];
    if (fig.dataset.series === "drift") {
      m.drift.forEach(function (d) { lines.push({ label: d.feature, values: d.scores }); });
    } else if (fig.dataset.series === "share") {
      lines.push({ label: "share drifted", values: m.drift_share });
    } else {
      m.performance.forEach(function (p) { lines.push({ label: p.name, values: p.values }); });
    }
    var series = [{ label: "window end" }], data = [m.times];
    lines.forEach(function (l, i) {
      series.push({ label: l.label, stroke: colour(i, lines.length), width: 2, points: { show: true, size: 5 },
                    dash: /estimated/.test(l.label) ? [6, 4] : undefined });
      data.push(l.values);
    });
    new uPlot({
      width: Math.max(300, box.clientWidth || 600), height: 220,
      series: series, axes: [{ stroke: "#222" }, { stroke: "#222" }], legend: { live: true },
    }, data, box);
    fig.dataset.drawn = "1";
  }

  // Saved views of the runs table: name -> URL query, in this browser's localStorage.
  var VIEWS = "cairn.views";
  function loadViews() {
    try { var v = JSON.parse(localStorage.getItem(VIEWS) || "[]"); return Array.isArray(v) ? v : []; }
    catch (e) { return []; }
  }
  function showViews(list) {
    list.textContent = "";
    loadViews().forEach(function (v, i) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = prefix + "/runs?" + v.query;  // text only: a stored name cannot become markup
      a.textContent = v.name;
      var del = document.createElement("button");
      del.type = "button"; del.className = "small"; del.textContent = "Delete";
      del.setAttribute("aria-label", "Delete view " + v.name);
      del.addEventListener("click", function () {
        var all = loadViews(); all.splice(i, 1);
        localStorage.setItem(VIEWS, JSON.stringify(all)); showViews(list);
      });
      li.appendChild(a); li.appendChild(document.createTextNode(" ")); li.appendChild(del);
      list.appendChild(li);
    });
  }
  function savedViews(root) {
    var list = root.querySelector ? root.querySelector("#saved-views") : null;
    if (!list) { list = document.getElementById("saved-views"); }
    var button = document.getElementById("save-view");
    if (!list || !button || button.dataset.ready) { return; }
    button.dataset.ready = "1";
    showViews(list);
    button.addEventListener("click", function () {
      var input = document.getElementById("view-name");
      var name = (input.value || "").trim();
      if (!name) { input.focus(); return; }
      var q = new URLSearchParams(location.search);
      q.delete("token"); q.delete("back");  // a view is the table, not a page of it
      var all = loadViews().filter(function (v) { return v.name !== name; });
      all.push({ name: name, query: q.toString() });
      localStorage.setItem(VIEWS, JSON.stringify(all));
      input.value = "";
      showViews(list);
    });
  }

  function init(root) {
    var scope = root.querySelectorAll ? root : document;
    scope.querySelectorAll("figure.chart:not(.cmp-chart):not(.mon-chart)").forEach(drawChart);
    scope.querySelectorAll("figure.cmp-chart").forEach(drawCompareChart);
    scope.querySelectorAll("canvas#parallel").forEach(drawParallel);
    scope.querySelectorAll("figure.mon-chart").forEach(drawMonitoring);
    savedViews(scope);
    tableKeys();
  }

  function start() {
    if (window.htmx) { window.htmx.onLoad(init); } else { init(document); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
