// "Copy" buttons: copy the text of the element named by data-copy.
for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    const text = [...source.querySelectorAll("code")].map((c) => c.textContent).join("\n");
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (error) {
      button.textContent = "Select and copy the codes by hand";
    }
  });
}
