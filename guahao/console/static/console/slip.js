// The slip's Print button (the console's policy runs no inline script, so no onclick="").
document.getElementById("slip-print").addEventListener("click", function () { window.print(); });
