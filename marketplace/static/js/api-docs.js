// Renders /api/v1/openapi.json with Swagger UI (from the pinned swagger-ui-dist package).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger-ui" });
});
