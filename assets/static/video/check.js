/* 视频调阅自检 page (check.html): play ?camera= with the screens' one player (player.js), show
 * its state and the gateway's reason. */
(function () {
  var q = new URLSearchParams(location.search);
  var camera = q.get("camera") || "";
  document.getElementById("camera").textContent = camera;
  var state = document.getElementById("state");
  window.onemapPlayer = OneMapVideo.play(document.getElementById("video"), camera, {
    "case": q.get("case") || "",
    onState: function (kind, text) { state.className = kind; state.textContent = text; }
  });
})();
