// "Copy" buttons: data-copy names an element whose <code> children are copied, one a line;
// data-copy-text holds the text itself (an authenticator key, without its spaces).
for (const button of document.querySelectorAll("[data-copy], [data-copy-text]")) {
  button.addEventListener("click", async () => {
    const source = button.dataset.copy && document.getElementById(button.dataset.copy);
    const text = source
      ? [...source.querySelectorAll("code")].map((c) => c.textContent).join("\n")
      : button.dataset.copyText;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (error) {
      button.textContent = "Select and copy it by hand";
    }
  });
}
