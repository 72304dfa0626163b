// Metalyard portal: confirmation before destructive actions, and the project switcher.
// Plain forms work without this file; it only adds the confirm() step and submit-on-change.
document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-submit-on-change]")) event.target.form.requestSubmit();
});
