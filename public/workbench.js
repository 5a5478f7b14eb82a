// Filters the workbench tiles as the user types; the search form also works without JavaScript.
(() => {
  const input = document.getElementById('q');
  const tiles = document.querySelectorAll('#tiles .tile');
  const noMatch = document.getElementById('no-match');
  if (!input || tiles.length === 0) return;
  const filter = () => {
    const needle = input.value.trim().toLowerCase();
    let shown = 0;
    for (const tile of tiles) {
      const visible = !needle || tile.dataset.search.includes(needle);
      tile.hidden = !visible;
      if (visible) shown += 1;
    }
    if (noMatch) {
      noMatch.hidden = shown > 0;
      noMatch.textContent = noMatch.textContent.replace(/“.*”|".*"/, `“${input.value.trim()}”`);
    }
  };
  input.addEventListener('input', filter);
})();
