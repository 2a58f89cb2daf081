// Starts nhsuk-frontend's components (menus, error summaries, buttons) on every page.
// Kept in a file, not inline, so the pages' Content-Security-Policy needs no 'unsafe-inline'.
import { initAll } from "/assets/nhsuk-frontend.min.js";

document.body.classList.add("js-enabled", "nhsuk-frontend-supported");
initAll();
