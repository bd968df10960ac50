// Show-password toggles, as progressive enhancement: each is rendered hidden next to its field
// (useless without script) with both of its labels, so the words stay in the templates with
// the rest of the page's text. A real <button>: Enter and Space work, aria-pressed says the
// state, and its label says what the next press does. A shown password is hidden again when
// its form is sent, so the browser's password manager still sees a password field.
for (const toggle of document.querySelectorAll("button[data-show-label][aria-controls]")) {
  const field = document.getElementById(toggle.getAttribute("aria-controls"));
  if (!field) continue;
  const show = (shown) => {
    field.type = shown ? "text" : "password";
    toggle.setAttribute("aria-pressed", String(shown));
    toggle.textContent = shown ? toggle.dataset.hideLabel : toggle.dataset.showLabel;
  };
  toggle.addEventListener("click", () => show(toggle.getAttribute("aria-pressed") !== "true"));
  if (field.form) field.form.addEventListener("submit", () => show(false));
  toggle.hidden = false;
}
