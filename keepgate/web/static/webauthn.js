// Passkeys and security keys: turn the server's options into a browser ceremony and post the
// browser's JSON answer back in the form. Loaded as an external module (the CSP forbids inline
// script); the options come from the form's data-options attribute.
function parse(form) {
  const raw = form.dataset.options;
  return raw ? JSON.parse(raw) : null;
}

async function ceremony(button) {
  const form = button.closest("form");
  const options = parse(form);
  if (!options || !window.PublicKeyCredential) {
    form.querySelector("[name=credential]").value = "{}";
    form.submit();
    return;
  }
  button.disabled = true;
  try {
    const credential = button.dataset.webauthn === "create"
      ? await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
      : await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    form.querySelector("[name=credential]").value = JSON.stringify(credential.toJSON());
  } catch (error) {
    // Cancelled or refused: let the server say so, and offer a new challenge.
    form.querySelector("[name=credential]").value = "{}";
  }
  form.submit();
}

for (const button of document.querySelectorAll("[data-webauthn]")) {
  button.addEventListener("click", () => ceremony(button));
}
