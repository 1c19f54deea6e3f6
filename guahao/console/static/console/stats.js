// Draws each chart of the statistics page with Apache ECharts (vendored, static/console/echarts).
// A chart's data is the JSON the page carries beside it; the page is readable without this.
(function () {
  "use strict";
  function draw(el) {
    var source = document.getElementById(el.dataset.option);
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    var percent = data.percent;
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis", valueFormatter: percent ? function (v) { return (v * 100).toFixed(1) + "%"; } : undefined },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 36, bottom: data.categories.length > 8 ? 96 : 40 },
      xAxis: { type: "category", data: data.categories, axisLabel: { rotate: data.categories.length > 8 ? 45 : 0, hideOverlap: true } },
      yAxis: { type: "value", axisLabel: percent ? { formatter: function (v) { return Math.round(v * 100) + "%"; } } : {} },
      series: data.series
    });
    el.dataset.drawn = "yes";
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function start() { document.querySelectorAll(".stats-chart[data-option]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
