/* Photos resized on the phone before upload (weak network: a 12 MP camera JPEG of 4 MB becomes
 * ~200 KB at 1280 px), drawn on a canvas and re-encoded as JPEG. */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const MAX_SIDE = 1280;   // px, longest side after resizing
  const QUALITY = 0.72;    // JPEG quality: readable detail, small upload

  async function decode(file) {
    if (window.createImageBitmap) {
      try { return await createImageBitmap(file, {imageOrientation: "from-image"}); }
      catch (e) { /* older browsers: fall back to <img> */ }
    }
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file);
      const img = new Image();
      img.onload = () => { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("不是图片")); };
      img.src = url;
    });
  }

  /** A File from the camera → a JPEG data URL no larger than MAX_SIDE on its longest side. */
  OM.resizePhoto = async function (file, maxSide, quality) {
    maxSide = maxSide || MAX_SIDE;
    const img = await decode(file);
    const w = img.width, h = img.height;
    const scale = Math.min(1, maxSide / Math.max(w, h));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(w * scale));
    canvas.height = Math.max(1, Math.round(h * scale));
    canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
    if (img.close) img.close();
    return canvas.toDataURL("image/jpeg", quality || QUALITY);
  };
  OM.PHOTO_MAX_SIDE = MAX_SIDE;
})();
