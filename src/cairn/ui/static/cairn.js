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

  function init(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("figure.chart").forEach(drawChart);
    tableKeys();
  }

  function start() {
    if (window.htmx) { window.htmx.onLoad(init); } else { init(document); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
