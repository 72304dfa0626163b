// The device console tab's live terminal: xterm.js (static/vendor/xterm) over the console server's websocket
// (apps/console/web.py). Binary frames are terminal bytes both ways; text frames are JSON notices
// ({"type": "status"|"notice"|"end", "text"|"reason"}). Nothing connects until the person presses Connect:
// every connection is an audited console session.
(() => {
  const root = document.getElementById("console-live");
  if (!root || typeof Terminal === "undefined") return;
  const connectButton = root.querySelector("#console-connect");
  const disconnectButton = root.querySelector("#console-disconnect");
  const readOnly = root.querySelector("#console-read-only");
  const status = root.querySelector("#console-status");
  const terminal = new Terminal({ rows: 24, cols: 100, cursorBlink: true, scrollback: 5000 });
  terminal.open(root.querySelector("#console-terminal"));
  const encoder = new TextEncoder();
  let socket = null;
  let told = false; // the server said why it ended: keep its words, not the close code's

  const address = () => {
    let url = root.dataset.websocket;
    if (url.startsWith("/")) url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + url;
    return readOnly.checked ? `${url}?mode=read` : url;
  };
  const connected = (on) => {
    connectButton.hidden = on;
    disconnectButton.hidden = !on;
    readOnly.disabled = on;
  };

  connectButton.addEventListener("click", () => {
    if (socket) return;
    told = false;
    status.textContent = "Connecting …";
    socket = new WebSocket(address());
    socket.binaryType = "arraybuffer";
    connected(true);
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        terminal.write(new Uint8Array(event.data));
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === "end") {
        told = true;
        status.textContent = `Disconnected: ${message.reason}`;
      } else {
        status.textContent = message.text;
        if (message.type === "status") {
          root.dataset.keyboard = message.keyboard ? "yes" : "no";
          terminal.focus();
        }
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      connected(false);
      delete root.dataset.keyboard;
      if (!told) {
        status.textContent = event.code === 1000 || event.code === 1005
          ? "Disconnected."
          : "Disconnected: the console server could not be reached or refused the connection (reload the page to check your access).";
      }
    });
  });
  disconnectButton.addEventListener("click", () => socket && socket.close(1000));
  terminal.onData((data) => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
  });
})();
