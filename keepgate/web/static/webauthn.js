// Passkeys and security keys: turn the server's options into a browser ceremony and post the
// browser's JSON answer back in the form. Loaded as an external module (the CSP forbids inline
// script); the options come from the form's data-options attribute.
function parse(form) {
  const raw = form.dataset.options;
  return raw ? JSON.parse(raw) : null;
}

// A CAPTCHA solved by a widget in another form (the sign-in page has one, in the password
// form) goes along with the passkey's answer: the field names that form in data-captcha-from.
function copyCaptcha(form) {
  for (const field of form.querySelectorAll("input[data-captcha-from]")) {
    const widget = document.querySelector(`#${field.dataset.captchaFrom} altcha-widget`);
    const solved = widget?.querySelector("input[name=captcha]")
      ?? widget?.shadowRoot?.querySelector("input[name=captcha]");
    field.value = solved?.value ?? "";
  }
}

async function ceremony(button) {
  const form = button.closest("form");
  const options = parse(form);
  if (!options || !window.PublicKeyCredential) {
    form.querySelector("[name=credential]").value = "{}";
    copyCaptcha(form);
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
  copyCaptcha(form);
  form.submit();
}

for (const button of document.querySelectorAll("[data-webauthn]")) {
  button.addEventListener("click", () => ceremony(button));
}
