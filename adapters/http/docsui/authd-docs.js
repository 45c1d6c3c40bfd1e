// Starts Swagger UI on authd's /docs page. It is a file of its own rather
// than an inline script so that the page's Content-Security-Policy can
// allow scripts from 'self' only.
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The document's first server is "/", so "Try it out" calls this
    // origin. No validator badge: it would load an image from elsewhere.
    validatorUrl: null,
    displayRequestDuration: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
