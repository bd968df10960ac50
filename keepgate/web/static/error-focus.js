// After a refused form the page comes back with an error summary (#form-error, tabindex=-1):
// focus it, so a screen reader reads it and a keyboard user starts from it.
const summary = document.getElementById("form-error");
if (summary) {
  summary.focus();
}
