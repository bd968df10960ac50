// Keepgate's entry point for the ALTCHA widget (not part of the npm package).
//
// altcha.min.js is the package's "external" build: it injects no <style> element and bundles no
// blob:/data: workers, both of which the page's CSP (style-src 'self'; script-src 'self') would
// block. Its stylesheet is altcha.css and its proof-of-work runs in workers/pbkdf2.js, a
// same-origin worker registered here. Importing the bundle from this module (instead of loading
// it with a second <script>) registers the worker in the same evaluation as the widget's
// definition, before any widget can start solving (auto="onload" included).
import "./altcha.min.js";

const pbkdf2Worker = new URL("./workers/pbkdf2.js", import.meta.url);

for (const algorithm of ["PBKDF2/SHA-256", "PBKDF2/SHA-384", "PBKDF2/SHA-512"]) {
	globalThis.$altcha.algorithms.set(algorithm, () => new Worker(pbkdf2Worker));
}
