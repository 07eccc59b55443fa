// Loaded between require.js and the Jupyter widget manager (nb_ipywidgets_js in _config.yml).
(function () {
  // 1. Where the widget manager's files are. Its bundle looks for its Font Awesome
  //    fonts beside the file each of its modules comes from, as require.js reports
  //    it; left alone, that would be beside each page. Here every module is said to
  //    come from embed-amd.js in _static/offline/html-manager/, where the fonts are.
  var staticDir = document.currentScript.src.replace(/[^/]*$/, "");
  var paths = {};
  [
    "@jupyter-widgets/base",
    "@jupyter-widgets/base7",
    "@jupyter-widgets/controls",
    "@jupyter-widgets/controls7",
    "@jupyter-widgets/html-manager",
    "@jupyter-widgets/html-manager/dist/libembed-amd",
  ].forEach(function (name) {
    paths[name] = "embed-amd";
  });
  window.requirejs.config({ baseUrl: staticDir + "offline/html-manager/", paths: paths });

  // 2. Math in widget labels. The manager typesets labels with MathJax 2's
  //    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the site runs
  //    MathJax 3, which has no Hub, so on a page with both math and widgets every
  //    label would raise an error. This forwards those calls to MathJax 3. The
  //    listener is added before the manager's own, which draws the widgets on "load".
  window.addEventListener("load", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || !mathjax.startup) return;
    mathjax.Hub = {
      Queue: function () {
        Array.prototype.forEach.call(arguments, function (call) {
          if (Array.isArray(call) && call[0] === "Typeset" && call[2]) {
            mathjax.startup.promise.then(function () {
              return mathjax.typesetPromise([call[2]]);
            });
          }
        });
      },
    };
  });

  // 3. Names for the sliders. ipywidgets draws a slider's handle as a role="slider"
  //    element without a name (its visible label is a separate <label>), so a screen
  //    reader announces only a number. Each handle, once drawn, is labelled by it.
  var labels = 0;
  function nameSliders() {
    document.querySelectorAll(".widget-slider").forEach(function (slider) {
      var label = slider.querySelector(".widget-label");
      if (!label || !label.textContent.trim()) return;
      slider.querySelectorAll('[role="slider"]:not([aria-labelledby])').forEach(function (handle) {
        label.id = label.id || "widget-label-" + ++labels;
        handle.setAttribute("aria-labelledby", label.id);
      });
    });
  }
  var pending = false;
  new MutationObserver(function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      nameSliders();
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
