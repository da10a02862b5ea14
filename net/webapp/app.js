/*
 * Charla's web chat: an IRC client over a WebSocket, in the browser, with no framework.
 *
 * It talks to the server that served the page (ws(s)://<location.host>/, subprotocol
 * text.ircv3.net, one IRC line per message) the way the Tk window does (net/client.py,
 * net/client_protocol.py): CAP negotiation (server-time, message-tags, batch, multi-prefix,
 * draft/message-redaction, charla.chat/session; sasl when logging in to an account),
 * SESSION <token> so a reconnect reclaims its nick, every message of ours numbered
 * (@charla.chat/seq=N) and kept until "PING charla-ack-N" comes back, then sent again
 * after a reconnect: the server relays each number once, so nothing is lost or repeated.
 * The token, the numbers and the unconfirmed messages live in sessionStorage (this tab,
 * across a reload or a phone waking up; a duplicated tab takes a token of its own, asked
 * over a BroadcastChannel); the last name in localStorage. A silent connection is probed
 * (PING) after 15 s and given 10 s; on waking (visibilitychange, online, pageshow) it is
 * probed at once and given 3 s; lost, it is made again with backoff (0.25 s, 1, 2 … 30 s).
 *
 * Safety: every text from the network is put in the page with textContent or text
 * nodes, never as HTML; links are made only for http: and https: addresses; nothing is
 * inline (the server's Content-Security-Policy forbids it). Announcements (a NOTICE from
 * the server itself, or from a channel operator to the channel, as gui/received.py decides)
 * are the only things drawn as a banner, so no message can pass for one.
 *
 * Single-threaded, as browser code is: the WebSocket's events and a few timers.
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------- words (es / en)

  /** "5 minutos", "1 hora" (durations of the teacher's timed mute and ban). */
  function minutesText(minutes, lang) {
    const hours = minutes >= 60 && minutes % 60 === 0 ? minutes / 60 : 0;
    const count = hours || minutes;
    const words = lang === "es"
      ? (hours ? ["hora", "horas"] : ["minuto", "minutos"])
      : (hours ? ["hour", "hours"] : ["minute", "minutes"]);
    return count + " " + words[count === 1 ? 0 : 1];
  }

  const WORDS = {
    es: {
      intro: "Escribe tu nombre para entrar en la conversación de la clase.",
      yourName: "Tu nombre",
      roomPassword: "Contraseña de la sala",
      accountPassword: "Contraseña de tu cuenta",
      enter: "Entrar",
      send: "Enviar",
      messageLabel: "Mensaje",
      emoji: "Emojis",
      conversations: "Conversaciones",
      classButton: "Clase",
      peopleHere: "Personas en la sala",
      announceLabel: "Aviso para toda la clase",
      announceSend: "Enviar aviso",
      people: (n) => (n === 1 ? "1 persona" : n + " personas"),
      connecting: "Conectando…",
      connectedAs: (nick) => "Conectado como " + nick,
      offline: (s) => "Sin conexión. Reintento en " + s + " s; lo que escribas se enviará después.",
      sending: "enviando…",
      refused: "no enviado",
      deleted: "(mensaje borrado)",
      outboxFull: "Hay demasiado esperando a que vuelva la conexión: este mensaje no se ha enviado.",
      needName: "Escribe un nombre.",
      badName: "Ese nombre no vale: sin espacios, hasta 30 letras o números.",
      nameTaken: "Ese nombre ya lo usa otra persona. Elige otro.",
      needRoomPassword: "Esta sala tiene contraseña.",
      wrongRoomPassword: "La contraseña de la sala no es correcta.",
      needAccountPassword: "Ese nombre está registrado: escribe su contraseña.",
      wrongAccountPassword: "La contraseña de la cuenta no es correcta.",
      waitAccount: (s) => "Demasiadas contraseñas equivocadas: se vuelve a probar dentro de " + s + " s.",
      waitRoom: (s) => "Contraseña equivocada hace un momento: se vuelve a probar dentro de " + s + " s.",
      refusedEntry: (why) => "El servidor no te deja entrar: " + why,
      noWebSocket: "Este navegador no puede conectarse (no tiene WebSocket).",
      announcement: "Aviso del servidor",
      announcementFrom: (nick) => "Aviso de " + nick,
      close: "Cerrar",
      joined: (nick) => nick + " ha entrado",
      joinedMany: (nicks) => nicks.length + " personas han entrado: " + nicks.join(", "),
      closeConversation: (name) => "Cerrar la conversación con " + name,
      left: (nick) => nick + " se ha ido",
      kicked: (nick, by, why) => by + " ha sacado a " + nick + (why ? " (" + why + ")" : ""),
      youWereKicked: (by, why) => by + " te ha sacado de la sala" + (why ? " (" + why + ")" : ""),
      renamed: (a, b) => a + " ahora se llama " + b,
      topic: (t) => "Tema: " + t,
      privateTo: "Mensaje privado",
      mute: "Silenciar hasta que lo quite",
      muteFor: (m) => "Silenciar " + minutesText(m, "es"),
      unmute: "Quitar silencio",
      remove: "Sacar de la sala",
      ban: "Expulsar hasta que lo quite",
      banFor: (m) => "Expulsar " + minutesText(m, "es"),
      banned: "expulsado",
      deleteMessage: "Borrar mensaje",
      newMessages: "mensajes nuevos",
      back: (ch) => "De vuelta en " + ch,
      unknownCommand: (c) => "No conozco la orden /" + c + ". Órdenes: /yo, /privado, /unirse, /dejar, /apodo, /aviso.",
      mentionTitle: (nick) => nick + " te nombra",
      privateTitle: (nick) => "Mensaje privado de " + nick,
      teacher: "profe",
      voice: "con voz",
      attach: "Enviar una foto o un PDF",
      uploading: (name, pct) => "Enviando " + name + "… " + pct + " %",
      uploaded: (name) => name + " enviado",
      uploadFailed: (name, why) => "No se ha podido enviar " + name + ": " + why,
      uploadNoToken: "Este servidor no acepta fotos ahora (o aún no estás conectado).",
      uploadNetwork: "se ha cortado la conexión",
      uploadTooBig: (mb) => "es demasiado grande" + (mb ? " (máximo " + mb + " MB)" : ""),
      uploadNotPicture: "solo se pueden enviar fotos (PNG, GIF, JPEG) y PDF",
      uploadTooFast: "has enviado demasiados; espera un poco",
      uploadBusy: "el servidor está ocupado; prueba otra vez en un momento",
      pictureOf: (nick) => "Foto de " + nick,
      pictureGone: "(foto borrada)",
    },
    en: {
      intro: "Type your name to join the class conversation.",
      yourName: "Your name",
      roomPassword: "Room password",
      accountPassword: "Your account's password",
      enter: "Join",
      send: "Send",
      messageLabel: "Message",
      emoji: "Emoji",
      conversations: "Conversations",
      classButton: "Class",
      peopleHere: "People in the room",
      announceLabel: "Announcement to the whole class",
      announceSend: "Announce",
      people: (n) => (n === 1 ? "1 person" : n + " people"),
      connecting: "Connecting…",
      connectedAs: (nick) => "Connected as " + nick,
      offline: (s) => "Not connected. Trying again in " + s + " s; what you type will be sent then.",
      sending: "sending…",
      refused: "not sent",
      deleted: "(message deleted)",
      outboxFull: "Too much is waiting for the connection to come back: this message was not sent.",
      needName: "Type a name.",
      badName: "That name will not do: no spaces, up to 30 letters or digits.",
      nameTaken: "Someone else is using that name. Choose another.",
      needRoomPassword: "This room has a password.",
      wrongRoomPassword: "The room's password is not right.",
      needAccountPassword: "That name is registered: type its password.",
      wrongAccountPassword: "The account's password is not right.",
      waitAccount: (s) => "Too many wrong passwords: trying again in " + s + " s.",
      waitRoom: (s) => "A wrong password a moment ago: trying again in " + s + " s.",
      refusedEntry: (why) => "The server does not let you in: " + why,
      noWebSocket: "This browser cannot connect (it has no WebSocket).",
      announcement: "Announcement from the server",
      announcementFrom: (nick) => "Announcement from " + nick,
      close: "Close",
      joined: (nick) => nick + " joined",
      joinedMany: (nicks) => nicks.length + " people joined: " + nicks.join(", "),
      closeConversation: (name) => "Close the conversation with " + name,
      left: (nick) => nick + " left",
      kicked: (nick, by, why) => by + " removed " + nick + (why ? " (" + why + ")" : ""),
      youWereKicked: (by, why) => by + " removed you from the room" + (why ? " (" + why + ")" : ""),
      renamed: (a, b) => a + " is now " + b,
      topic: (t) => "Topic: " + t,
      privateTo: "Private message",
      mute: "Mute until I unmute",
      muteFor: (m) => "Mute for " + minutesText(m, "en"),
      unmute: "Unmute",
      remove: "Remove from the room",
      ban: "Ban until I lift it",
      banFor: (m) => "Ban for " + minutesText(m, "en"),
      banned: "banned",
      deleteMessage: "Delete message",
      newMessages: "new messages",
      back: (ch) => "Back in " + ch,
      unknownCommand: (c) => "Unknown command /" + c + ". Commands: /me, /msg, /join, /part, /nick, /announce.",
      mentionTitle: (nick) => nick + " mentions you",
      privateTitle: (nick) => "Private message from " + nick,
      teacher: "teacher",
      voice: "voice",
      attach: "Send a picture or a PDF",
      uploading: (name, pct) => "Sending " + name + "… " + pct + " %",
      uploaded: (name) => name + " sent",
      uploadFailed: (name, why) => "Could not send " + name + ": " + why,
      uploadNoToken: "This server does not take pictures now (or you are not connected yet).",
      uploadNetwork: "the connection was cut",
      uploadTooBig: (mb) => "it is too large" + (mb ? " (at most " + mb + " MB)" : ""),
      uploadNotPicture: "only pictures (PNG, GIF, JPEG) and PDF files can be sent",
      uploadTooFast: "you have sent too many; wait a little",
      uploadBusy: "the server is busy; try again in a moment",
      pictureOf: (nick) => "Picture from " + nick,
      pictureGone: "(picture deleted)",
    },
  };
  const LANG = String(navigator.language || "en").toLowerCase().startsWith("es") ? "es" : "en";
  const W = WORDS[LANG];

  // ---------------------------------------------------------------- limits and names

  const DEFAULT_CHANNEL = "#general";
  const MAX_LINE_BYTES = 512; // RFC 1459, CRLF included
  // a long message's lines but the last (net/text_cuts.py), and how long they are awaited
  const CONTINUES_TAG = "+charla.chat/continues";
  // the timed mutes and bans a teacher's nick menu offers, in minutes (gui/classroom.py's)
  const MUTE_MINUTES = [5, 15, 60];
  const BAN_MINUTES = [60];
  const UPLOADED_SHOWN_MS = 6000; // "foto.png enviado" then goes (a refusal stays)
  const REJOIN_WAIT_MS = 3000;
  const REJOIN_MAX_CHARS = 8000;
  const REJOIN_MAX_OPEN = 32;
  const HOST_ALLOWANCE = 64; // what our host may take in the relayed line (net/client.py)
  const NICKLEN = 30;
  const MAX_IN_FLIGHT = 20; // unconfirmed messages at once (net/client_protocol.py)
  // messages waiting for the server at most (kept in sessionStorage, ~5 MB): about
  // 750 KB of text typed while the connection is down
  const MAX_OUTBOX = 2000;
  const ACK_PREFIX = "charla-ack-";
  const KEEPALIVE_TOKEN = "charla-keepalive";
  const KEEPALIVE_AFTER_MS = 15000; // silence before we PING the server
  const KEEPALIVE_TIMEOUT_MS = 10000; // then this long for an answer
  // after the phone wakes (or the tab comes back) a socket that slept is asked at once,
  // and given less time: a dead one must not keep the user waiting 10 s more
  const WAKE_PROBE_TIMEOUT_MS = 3000;
  // a connection not open by then is given up (a phone between networks can leave one
  // trying for minutes) and another is made
  const CONNECT_TIMEOUT_MS = 10000;
  // how long a reloaded tab waits for another tab to say its session token is theirs
  const DUPLICATE_CHECK_MS = 150;
  const RECONNECT_MAX_ATTEMPTS = 10000; // about three days at the longest delay
  const REMEMBERED_MSGIDS = 20000;
  const MAX_LOG_ITEMS = 2000; // messages kept on screen per conversation
  const MAX_BANNERS = 3;
  const SESSION_CAP = "charla.chat/session";
  const SEQ_TAG = "charla.chat/seq";
  const WANTED_CAPS = ["batch", "server-time", "message-tags", "draft/message-redaction",
    SESSION_CAP, "multi-prefix"];
  const EMOJI = ["🙂", "😂", "😍", "🤔", "😮", "😢", "👍", "👏", "🙌", "🎉", "❤️", "👋",
    "✅", "❓", "🔥", "📚"];
  const STORE = "charla.";

  // ---------------------------------------------------------------- small helpers

  const $ = (id) => document.getElementById(id);
  const encoder = new TextEncoder();
  const utf8Length = (text) => encoder.encode(text).length;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** RFC 1459 case folding, extended to Unicode (net.protocol.irc_lower). */
  function fold(name) {
    return String(name).normalize("NFC").toLowerCase()
      .replace(/\[/g, "{").replace(/\]/g, "}").replace(/\\/g, "|").replace(/~/g, "^");
  }

  /** Letters without accents or case, for mentions and sorting. */
  function plain(text) {
    return String(text).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function store(key, value) {
    try {
      sessionStorage.setItem(STORE + key, JSON.stringify(value));
    } catch (e) {
      /* private mode or full: the page still works, without surviving a reload */
    }
  }

  function restore(key, fallback) {
    try {
      const raw = sessionStorage.getItem(STORE + key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }

  function randomToken() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function clock(date) {
    return String(date.getHours()).padStart(2, "0") + ":" + String(date.getMinutes()).padStart(2, "0");
  }

  // ---------------------------------------------------------------- nick colours

  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  /** The window's colour for a nick (gui.theme.nick_color: CRC-32 of the folded nick). */
  function nickColour(nick) {
    let crc = 0xffffffff;
    for (const byte of encoder.encode(fold(nick))) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
    return "nick-c" + (((crc ^ 0xffffffff) >>> 0) % 12);
  }

  // ---------------------------------------------------------------- our session's msgids

  // The server names our messages c-<alias>-<seq>, where alias = net.protocol.session_alias
  // (token): int(random.Random(token).random() * 2**53) in hex. Python seeds Random with
  // the token's bytes followed by their SHA-512, as one big number, through MT19937's
  // init_by_array. We compute the same here (crypto.subtle exists only on https pages),
  // so we know our own messages when history replays them, and can delete them.

  const K512 = "428a2f98d728ae22 7137449123ef65cd b5c0fbcfec4d3b2f e9b5dba58189dbbc 3956c25bf348b538 59f111f1b605d019 923f82a4af194f9b ab1c5ed5da6d8118 d807aa98a3030242 12835b0145706fbe 243185be4ee4b28c 550c7dc3d5ffb4e2 72be5d74f27b896f 80deb1fe3b1696b1 9bdc06a725c71235 c19bf174cf692694 e49b69c19ef14ad2 efbe4786384f25e3 0fc19dc68b8cd5b5 240ca1cc77ac9c65 2de92c6f592b0275 4a7484aa6ea6e483 5cb0a9dcbd41fbd4 76f988da831153b5 983e5152ee66dfab a831c66d2db43210 b00327c898fb213f bf597fc7beef0ee4 c6e00bf33da88fc2 d5a79147930aa725 06ca6351e003826f 142929670a0e6e70 27b70a8546d22ffc 2e1b21385c26c926 4d2c6dfc5ac42aed 53380d139d95b3df 650a73548baf63de 766a0abb3c77b2a8 81c2c92e47edaee6 92722c851482353b a2bfe8a14cf10364 a81a664bbc423001 c24b8b70d0f89791 c76c51a30654be30 d192e819d6ef5218 d69906245565a910 f40e35855771202a 106aa07032bbd1b8 19a4c116b8d2d0c8 1e376c085141ab53 2748774cdf8eeb99 34b0bcb5e19b48a8 391c0cb3c5c95a63 4ed8aa4ae3418acb 5b9cca4f7763e373 682e6ff3d6b2b8a3 748f82ee5defb2fc 78a5636f43172f60 84c87814a1f0ab72 8cc702081a6439ec 90befffa23631e28 a4506cebde82bde9 bef9a3f7b2c67915 c67178f2e372532b ca273eceea26619c d186b8c721c0c207 eada7dd6cde0eb1e f57d4f7fee6ed178 06f067aa72176fba 0a637dc5a2c898a6 113f9804bef90dae 1b710b35131c471b 28db77f523047d84 32caab7b40c72493 3c9ebe0a15c9bebc 431d67c49c100d4c 4cc5d4becb3e42b6 597f299cfc657e2a 5fcb6fab3ad6faec 6c44198c4a475817".split(" ").map((h) => BigInt("0x" + h));
  const H512 = "6a09e667f3bcc908 bb67ae8584caa73b 3c6ef372fe94f82b a54ff53a5f1d36f1 510e527fade682d1 9b05688c2b3e6c1f 1f83d9abfb41bd6b 5be0cd19137e2179".split(" ").map((h) => BigInt("0x" + h));
  const MASK64 = (1n << 64n) - 1n;

  function sha512(bytes) {
    const rotr = (x, n) => ((x >> n) | (x << (64n - n))) & MASK64;
    const length = bytes.length;
    const padded = new Uint8Array(Math.ceil((length + 17) / 128) * 128);
    padded.set(bytes);
    padded[length] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 4, (length * 8) >>> 0);
    view.setUint32(padded.length - 8, Math.floor((length * 8) / 2 ** 32));
    const h = H512.slice();
    const w = new Array(80);
    for (let chunk = 0; chunk < padded.length; chunk += 128) {
      for (let i = 0; i < 16; i++) w[i] = view.getBigUint64(chunk + i * 8);
      for (let i = 16; i < 80; i++) {
        const s0 = rotr(w[i - 15], 1n) ^ rotr(w[i - 15], 8n) ^ (w[i - 15] >> 7n);
        const s1 = rotr(w[i - 2], 19n) ^ rotr(w[i - 2], 61n) ^ (w[i - 2] >> 6n);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & MASK64;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 80; i++) {
        const S1 = rotr(e, 14n) ^ rotr(e, 18n) ^ rotr(e, 41n);
        const ch = (e & f) ^ (~e & MASK64 & g);
        const t1 = (hh + S1 + ch + K512[i] + w[i]) & MASK64;
        const S0 = rotr(a, 28n) ^ rotr(a, 34n) ^ rotr(a, 39n);
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) & MASK64;
        [hh, g, f, e, d, c, b, a] = [g, f, e, (d + t1) & MASK64, c, b, a, (t1 + t2) & MASK64];
      }
      [a, b, c, d, e, f, g, hh].forEach((v, i) => { h[i] = (h[i] + v) & MASK64; });
    }
    const out = new Uint8Array(64);
    const outView = new DataView(out.buffer);
    h.forEach((v, i) => outView.setBigUint64(i * 8, v));
    return out;
  }

  function sessionAlias(token) {
    const text = encoder.encode(token);
    const bytes = new Uint8Array(text.length + 64);
    bytes.set(text);
    bytes.set(sha512(text), text.length);
    const key = []; // 32-bit words, least significant first (CPython's random_seed)
    for (let end = bytes.length; end > 0; end -= 4) {
      let word = 0;
      for (let i = Math.max(0, end - 4); i < end; i++) word = word * 256 + bytes[i];
      key.push(word >>> 0);
    }
    const N = 624;
    const mt = new Uint32Array(N);
    mt[0] = 19650218;
    for (let i = 1; i < N; i++) mt[i] = (Math.imul(1812433253, mt[i - 1] ^ (mt[i - 1] >>> 30)) + i) >>> 0;
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
    }
    mt[0] = 0x80000000;
    let index = N;
    function next() {
      if (index >= N) {
        for (let kk = 0; kk < N; kk++) {
          const y = (mt[kk] & 0x80000000) | (mt[(kk + 1) % N] & 0x7fffffff);
          mt[kk] = mt[(kk + 397) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
        }
        index = 0;
      }
      let y = mt[index++];
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      return y >>> 0;
    }
    const high = next() >>> 5;
    const low = next() >>> 6;
    return (high * 67108864 + low).toString(16);
  }

  // ---------------------------------------------------------------- IRC lines

  const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

  /** One line from the server: {tags, source, nick, command, params}; null if empty. */
  function parseLine(line) {
    let rest = line.replace(/[\r\n]+$/, "");
    const message = { tags: {}, source: "", nick: "", command: "", params: [] };
    if (rest.startsWith("@")) {
      const space = rest.indexOf(" ");
      if (space < 0) return null;
      for (const item of rest.slice(1, space).split(";")) {
        const eq = item.indexOf("=");
        const key = eq < 0 ? item : item.slice(0, eq);
        const raw = eq < 0 ? "" : item.slice(eq + 1);
        message.tags[key] = raw.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPES ? TAG_UNESCAPES[c] : c));
      }
      rest = rest.slice(space + 1).replace(/^ +/, "");
    }
    if (rest.startsWith(":")) {
      const space = rest.indexOf(" ");
      if (space < 0) return null;
      message.source = rest.slice(1, space);
      message.nick = message.source.split("!")[0];
      rest = rest.slice(space + 1).replace(/^ +/, "");
    }
    while (rest) {
      if (rest.startsWith(":") && message.command) {
        message.params.push(rest.slice(1));
        break;
      }
      const space = rest.indexOf(" ");
      const word = space < 0 ? rest : rest.slice(0, space);
      if (!message.command) message.command = word.toUpperCase();
      else message.params.push(word);
      rest = space < 0 ? "" : rest.slice(space + 1).replace(/^ +/, "");
    }
    return message.command ? message : null;
  }

  /** A line to send; the last parameter may hold spaces. Newlines never get in. */
  function formatLine(command, params, tags) {
    const clean = params.map((p) => String(p).replace(/[\r\n\0]/g, " "));
    const last = clean.length ? clean.pop() : null;
    let line = [command, ...clean].join(" ");
    if (last !== null) line += " :" + last;
    if (tags && Object.keys(tags).length) {
      line = "@" + Object.entries(tags).map(([k, v]) => k + "=" + v).join(";") + " " + line;
    }
    return line;
  }

  /** Pieces of text that each fit in maxBytes of UTF-8, cut before a space where there is
   *  one (the space then starts the next piece, where servers that trim lines keep it), else
   *  between characters; as net/text_cuts.py does for the window. Nothing is lost. */
  function splitWords(text, maxBytes) {
    const pieces = [];
    let piece = "";
    let size = 0;
    let lastSpace = -1; // where in piece the last space after a word is (a cut goes before it)
    for (const char of text) {
      const code = char.codePointAt(0);
      const n = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
      if (size + n > maxBytes && piece) {
        const cut = lastSpace > 0 ? lastSpace : piece.length;
        pieces.push(piece.slice(0, cut));
        piece = piece.slice(cut);
        size = utf8Length(piece);
        lastSpace = -1;
        if (size + n > maxBytes && piece) { // what followed the space is still too long
          pieces.push(piece);
          piece = "";
          size = 0;
        }
      }
      if (char === " " && piece && !piece.endsWith(" ")) lastSpace = piece.length;
      piece += char;
      size += n;
    }
    if (piece) pieces.push(piece);
    return pieces;
  }

  /** Pieces of text that each fit in maxBytes of UTF-8, cut between characters. */
  function splitUtf8(text, maxBytes) {
    const pieces = [];
    let piece = "";
    let size = 0;
    for (const char of text) {
      const code = char.codePointAt(0);
      const n = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
      if (size + n > maxBytes && piece) {
        pieces.push(piece);
        piece = "";
        size = 0;
      }
      piece += char;
      size += n;
    }
    if (piece) pieces.push(piece);
    return pieces;
  }

  const validNick = (nick) => nick.length > 0 && nick.length <= NICKLEN && !/[\s,*?!@#:\x00-\x1f]/.test(nick) && !/^[0-9-]/.test(nick);

  // ---------------------------------------------------------------- state

  const state = {
    nick: restore("nick", ""),
    token: restore("token", "") || randomToken(),
    alias: "",
    lastId: restore("lastId", 0),
    // our messages not yet confirmed, oldest first: {id, command, target, text}
    outbox: restore("outbox", []),
    inFlight: 0, // of the outbox's head, written on this connection
    channels: restore("channels", [DEFAULT_CHANNEL]),
    roomPassword: null,
    accountPassword: null,
    ws: null,
    registered: false,
    everRegistered: false,
    fatal: false, // the server refused us for a reason only the user can fix
    caps: new Set(),
    offered: new Set(),
    batches: new Map(), // open batch reference -> its type
    prefixes: { o: "@", v: "+" }, // ISUPPORT PREFIX: mode letter -> NAMES symbol
    userModes: "",
    seen: new Map(), // msgids already shown, oldest first
    convs: new Map(), // folded name -> conversation
    active: "",
    attempt: 0,
    retryTimer: 0,
    keepaliveTimer: 0,
    lastHeard: 0,
    probeSent: 0, // when our keepalive PING went out (0: none waiting)
    probeTimeout: KEEPALIVE_TIMEOUT_MS,
    unread: 0,
  };
  state.alias = sessionAlias(state.token);
  store("token", state.token);

  // the other tabs of this page, asked whether our token is theirs (whenTokenIsOurs)
  const tabs = "BroadcastChannel" in window ? new BroadcastChannel("charla-session") : null;
  if (tabs) {
    tabs.addEventListener("message", (event) => {
      if (event.data && event.data.whose === state.token) tabs.postMessage({ mine: state.token });
    });
  }

  function saveOutbox() {
    store("outbox", state.outbox);
    store("lastId", state.lastId);
  }

  function msgidOf(id) {
    return "c-" + state.alias + "-" + id;
  }

  function firstSight(msgid) {
    if (!msgid) return true;
    if (state.seen.has(msgid)) return false;
    state.seen.set(msgid, true);
    if (state.seen.size > REMEMBERED_MSGIDS) state.seen.delete(state.seen.keys().next().value);
    return true;
  }

  // ---------------------------------------------------------------- the connection

  function send(command, params, tags) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(formatLine(command, params || [], tags));
      return true;
    }
    return false;
  }

  function connect() {
    clearTimeout(state.retryTimer);
    state.retryTimer = 0;
    if (state.ws) return;
    if (!("WebSocket" in window)) {
      showLoginError(W.noWebSocket);
      return;
    }
    setStatus(W.connecting);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let ws;
    try {
      ws = new WebSocket(scheme + location.host + "/", ["text.ircv3.net"]);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.registered = false;
    state.uploadToken = ""; // per connection: read again from this one's 005
    state.caps = new Set();
    state.offered = new Set();
    state.batches.clear();
    state.inFlight = 0;
    state.saslOver = false;
    ws.onopen = () => {
      heard();
      send("CAP", ["LS", "302"]);
      if (state.roomPassword) send("PASS", [state.roomPassword]);
    };
    ws.onmessage = (event) => {
      if (ws !== state.ws) return;
      heard();
      const text = typeof event.data === "string" ? event.data : "";
      for (const line of text.split(/\r?\n/)) {
        const message = line ? parseLine(line) : null;
        if (message) receive(message);
      }
    };
    ws.onclose = () => lost(ws);
    ws.onerror = () => { /* onclose follows */ };
    setTimeout(() => {
      if (ws === state.ws && ws.readyState === WebSocket.CONNECTING) {
        ws.close();
        lost(ws);
      }
    }, CONNECT_TIMEOUT_MS);
  }

  function lost(ws) {
    if (ws !== state.ws) return;
    state.ws = null;
    clearTimeout(state.keepaliveTimer);
    const wasRegistered = state.registered;
    state.registered = false;
    state.inFlight = 0;
    if (state.userModes) setUserModes("");
    for (const conv of state.convs.values()) conv.members.clear();
    renderMembers();
    if (state.fatal) return;
    if (wasRegistered) state.attempt = 0;
    scheduleReconnect();
  }

  function scheduleReconnect() {
    state.attempt += 1;
    if (state.attempt > RECONNECT_MAX_ATTEMPTS) return;
    const nominal = state.attempt <= 1 ? 0.25 : Math.min(30, 2 ** (state.attempt - 2));
    const delay = nominal * (0.8 + Math.random() * 0.4);
    setStatus(W.offline(Math.max(1, Math.round(delay))), true);
    state.retryTimer = setTimeout(connect, delay * 1000);
  }

  /** Now, not later: the phone woke up, the tab came back, the network returned. A
   *  connection still being made is left to CONNECT_TIMEOUT_MS. */
  function reconnectNow() {
    if (state.fatal || !state.nick || !document.body.classList.contains("in-chat")) return;
    if (state.ws) {
      probe(WAKE_PROBE_TIMEOUT_MS); // a socket that slept may be dead without knowing it
      return;
    }
    state.attempt = 0;
    connect();
  }

  function heard() {
    state.lastHeard = Date.now();
    state.probeSent = 0;
    armKeepalive();
  }

  function armKeepalive() {
    clearTimeout(state.keepaliveTimer);
    const wait = state.probeSent
      ? Math.max(0, state.probeSent + state.probeTimeout - Date.now())
      : KEEPALIVE_AFTER_MS;
    state.keepaliveTimer = setTimeout(keepalive, wait);
  }

  /** PING the server; no answer within timeoutMs means the connection is dead. */
  function probe(timeoutMs = KEEPALIVE_TIMEOUT_MS) {
    if (state.probeSent) {
      state.probeTimeout = Math.min(state.probeTimeout, timeoutMs);
    } else if (send("PING", [KEEPALIVE_TOKEN])) {
      state.probeSent = Date.now();
      state.probeTimeout = timeoutMs;
    }
    armKeepalive();
  }

  function keepalive() {
    if (!state.ws) return;
    if (state.probeSent && Date.now() - state.probeSent >= state.probeTimeout) {
      const ws = state.ws;
      ws.close();
      lost(ws); // at once: a dead socket may take long to report its close
      return;
    }
    if (!state.probeSent && Date.now() - state.lastHeard >= KEEPALIVE_AFTER_MS) probe();
    else armKeepalive();
  }

  // ---------------------------------------------------------------- registration

  function capEnd() {
    send("NICK", [state.nick]);
    send("USER", ["web", "0", "*", "Charla web"]);
    send("CAP", ["END"]);
  }

  const HANDLERS = {
    PING: (m) => send("PONG", [m.params[0] || "x"]),
    PONG: onPong,
    CAP: onCap,
    AUTHENTICATE: (m) => {
      if (m.params[0] !== "+" || state.accountPassword === null) return;
      const plainText = state.nick + "\0" + state.nick + "\0" + state.accountPassword;
      const bytes = encoder.encode(plainText);
      let binary = "";
      bytes.forEach((b) => { binary += String.fromCharCode(b); });
      const encoded = btoa(binary);
      const pieces = encoded.match(/.{1,400}/g) || [];
      if (!pieces.length || pieces[pieces.length - 1].length === 400) pieces.push("+");
      pieces.forEach((p) => send("AUTHENTICATE", [p]));
    },
    "903": () => { state.saslOver = true; capEnd(); },
    "907": () => { state.saslOver = true; capEnd(); },
    "902": saslFailed,
    "904": saslFailed,
    "905": saslFailed,
    "906": saslFailed,
    "908": saslFailed,
    "001": onWelcome,
    "005": onIsupport,
    "221": (m) => setUserModes((m.params[1] || "").replace(/[+]/g, "")),
    "381": () => setUserModes(state.userModes.replace("o", "") + "o"),
    "432": onNickRefused,
    "433": onNickRefused,
    "437": onNickRefused,
    "464": (m) => {
      const wait = waitOf(m);
      if (wait) return refuse(W.waitRoom(wait), "room-password-row", wait);
      refuse(state.roomPassword ? W.wrongRoomPassword : W.needRoomPassword, "room-password-row");
    },
    ERROR: (m) => {
      if (!state.registered && !state.fatal && /password|denied|banned|k-?lined/i.test(m.params[0] || "")) {
        refuse(W.refusedEntry(m.params[0]));
      }
    },
    "404": onCannotSend,
    MODE: onMode,
    JOIN: onJoin,
    PART: (m) => {
      const channel = m.params[0] || "";
      if (isMe(m.nick)) {
        state.channels = state.channels.filter((c) => fold(c) !== fold(channel));
        store("channels", state.channels);
      }
      removeMember(channel, m.nick);
      systemLine(channel, W.left(m.nick));
    },
    KICK: (m) => {
      const [channel, who, why] = [m.params[0] || "", m.params[1] || "", m.params[2] || ""];
      removeMember(channel, who);
      if (isMe(who)) {
        state.channels = state.channels.filter((c) => fold(c) !== fold(channel));
        store("channels", state.channels);
        systemLine(channel, W.youWereKicked(m.nick, why), "kicked");
      } else {
        systemLine(channel, W.kicked(who, m.nick, why));
      }
    },
    QUIT: (m) => {
      for (const conv of state.convs.values()) {
        if (conv.members.delete(fold(m.nick))) systemLine(conv.name, W.left(m.nick));
      }
      renderMembers();
    },
    NICK: (m) => {
      const [old, now] = [m.nick, m.params[0] || ""];
      if (isMe(old)) {
        state.nick = now;
        store("nick", now);
        setStatus(W.connectedAs(now));
      }
      for (const conv of state.convs.values()) {
        const member = conv.members.get(fold(old));
        if (member) {
          conv.members.delete(fold(old));
          conv.members.set(fold(now), { nick: now, status: member.status });
          systemLine(conv.name, W.renamed(old, now));
        }
      }
      renderMembers();
    },
    TOPIC: (m) => showTopic(m.params[0] || "", m.params[1] || ""),
    "332": (m) => showTopic(m.params[1] || "", m.params[2] || ""),
    "353": onNamesReply,
    "366": onNamesEnd,
    BATCH: (m) => {
      const ref = m.params[0] || "";
      if (ref.startsWith("+")) state.batches.set(ref.slice(1), m.params[1] || "");
      else state.batches.delete(ref.slice(1));
    },
    PRIVMSG: onText,
    NOTICE: onText,
    REDACT: onRedact,
    // IRCv3 standard replies: a refused REDACT and the like, said in the conversation
    FAIL: (m) => systemLine(state.active, m.params[m.params.length - 1] || "", "error"),
  };

  function receive(message) {
    const handler = HANDLERS[message.command];
    if (handler) handler(message);
    else if (/^[45]\d\d$/.test(message.command) && state.registered) {
      systemLine(state.active, message.params.slice(1).join(" "), "error");
    }
  }

  function onCap(m) {
    const sub = (m.params[1] || "").toUpperCase();
    if (sub === "LS") {
      for (const cap of (m.params[m.params.length - 1] || "").split(" ")) {
        if (cap) state.offered.add(cap.split("=")[0]);
      }
      if (m.params[2] === "*") return; // more LS lines follow
      const wanted = WANTED_CAPS.filter((c) => state.offered.has(c));
      if (state.accountPassword !== null && state.offered.has("sasl")) wanted.push("sasl");
      if (wanted.length) send("CAP", ["REQ", wanted.join(" ")]);
      else capEnd();
    } else if (sub === "ACK") {
      for (const cap of (m.params[m.params.length - 1] || "").split(" ")) if (cap) state.caps.add(cap);
      if (state.caps.has(SESSION_CAP)) send("SESSION", [state.token]);
      if (state.caps.has("sasl") && state.accountPassword !== null) send("AUTHENTICATE", ["PLAIN"]);
      else capEnd();
    } else if (sub === "NAK") {
      capEnd();
    }
  }

  function saslFailed(m) {
    const wait = waitOf(m);
    if (wait) return refuse(W.waitAccount(wait), "account-password-row", wait);
    state.accountPassword = null;
    refuse(W.wrongAccountPassword, "account-password-row");
  }

  /** The seconds a refusal says to wait ("try again in 2 s": a wrong password before). */
  function waitOf(m) {
    const match = /try again in (\d+) s/.exec(m.params[m.params.length - 1] || "");
    return match ? Math.min(Number(match[1]), 3600) : 0;
  }

  /** Entry refused for a reason the user must fix: back to the name prompt. */
  function refuse(text, showRow, retryAfter) {
    state.fatal = true;
    clearTimeout(state.loginRetry);
    if (retryAfter) {
      // the server makes this address wait after a wrong password: the one now typed is
      // tried again by itself when the wait is over
      state.loginRetry = setTimeout(() => $("login-form").requestSubmit(), retryAfter * 1000 + 250);
    }
    if (showRow) $(showRow).hidden = false;
    const ws = state.ws;
    state.ws = null;
    if (ws) ws.close();
    clearTimeout(state.keepaliveTimer);
    showLogin(text);
    if (showRow) $(showRow).querySelector("input").focus();
  }

  function onNickRefused(m) {
    const why = m.params[m.params.length - 1] || "";
    if (state.registered) {
      systemLine(state.active, (m.params[1] || "") + ": " + why, "error");
      return;
    }
    if (m.command === "433" && /regist/i.test(why)) {
      refuse(state.accountPassword ? W.wrongAccountPassword : W.needAccountPassword,
        "account-password-row");
    } else if (state.everRegistered && m.command !== "432") {
      // our nick is held by someone else now: come in under a stand-in rather than not at all
      state.nick = state.nick.slice(0, NICKLEN - 1) + "_";
      send("NICK", [state.nick]);
    } else {
      refuse(m.command === "432" ? W.badName : W.nameTaken);
    }
  }

  function onWelcome(m) {
    state.registered = true;
    state.everRegistered = true;
    state.attempt = 0;
    state.nick = m.params[0] || state.nick;
    store("nick", state.nick);
    try {
      localStorage.setItem(STORE + "lastNick", state.nick);
    } catch (e) { /* not kept: the prompt is empty next time */ }
    setStatus(W.connectedAs(state.nick));
    for (const channel of state.channels) send("JOIN", [channel]);
    flushOutbox();
  }

  function onIsupport(m) {
    for (const token of m.params.slice(1, -1)) {
      const match = /^PREFIX=\(([A-Za-z]*)\)(\S*)$/.exec(token);
      if (match && match[1].length === match[2].length) {
        state.prefixes = {};
        [...match[1]].forEach((letter, i) => { state.prefixes[letter] = match[2][i]; });
      }
      pictureIsupport(token);
    }
  }

  // ---------------------------------------------------------------- the outbox

  /** Queue text for target, cut to fit a line; shown at once as pending. False when the
   *  outbox is full (the text stays in the entry). */
  function say(target, text, { action = false, notice = false } = {}) {
    const command = notice ? "NOTICE" : "PRIVMSG";
    const overhead = utf8Length(":" + state.nick + "!~web@ " + command + " " + target + " :");
    const limit = Math.max(32, MAX_LINE_BYTES - 2 - overhead - HOST_ALLOWANCE - (action ? 9 : 0));
    const pieces = splitWords(text, limit);
    if (state.outbox.length + pieces.length > MAX_OUTBOX) {
      systemLine(target, W.outboxFull, "error");
      return false;
    }
    const items = pieces.map((piece, index) => {
      const body = action ? "\x01ACTION " + piece + "\x01" : piece;
      state.lastId += 1;
      const item = { id: state.lastId, command, target, text: body };
      if (index < pieces.length - 1) item.more = true; // CONTINUES_TAG: more follows
      state.outbox.push(item);
      firstSight(msgidOf(item.id)); // history will replay it under this id: shown already
      return item;
    });
    showOwn(items, new Date()); // one message, as the others see it
    saveOutbox();
    flushOutbox();
    return true;
  }

  function flushOutbox() {
    if (!state.registered) return;
    const room = MAX_IN_FLIGHT - state.inFlight;
    const taken = state.outbox.slice(state.inFlight, state.inFlight + Math.max(0, room));
    if (!taken.length) return;
    const session = state.caps.has(SESSION_CAP);
    for (const item of taken) {
      const tags = session ? { [SEQ_TAG]: String(item.id) } : {};
      if (item.more && state.caps.has("message-tags")) tags[CONTINUES_TAG] = "";
      send(item.command, [item.target, item.text], tags);
    }
    state.inFlight += taken.length;
    send("PING", [ACK_PREFIX + taken[taken.length - 1].id]);
  }

  function onPong(m) {
    const token = m.params[m.params.length - 1] || "";
    if (!token.startsWith(ACK_PREFIX)) return;
    const upTo = Number(token.slice(ACK_PREFIX.length));
    if (!Number.isSafeInteger(upTo)) return;
    while (state.inFlight > 0 && state.outbox.length && state.outbox[0].id <= upTo) {
      const item = state.outbox.shift();
      state.inFlight -= 1;
      markDelivered(item.id);
    }
    saveOutbox();
    flushOutbox();
  }

  /** 404: the oldest unconfirmed message to that target was refused; it is not sent again. */
  function onCannotSend(m) {
    const target = m.params[1] || "";
    const why = m.params[m.params.length - 1] || "";
    for (let i = 0; i < state.inFlight; i++) {
      const item = state.outbox[i];
      if (fold(item.target) === fold(target)) {
        state.outbox.splice(i, 1);
        state.inFlight -= 1;
        saveOutbox();
        const node = ownNode(item.id);
        if (node) {
          node.classList.remove("pending");
          node.classList.add("refused");
          node.querySelector(".state").textContent = W.refused + ": " + why;
        }
        return;
      }
    }
    systemLine(target, why, "error");
  }

  /** The node of our own message whose lines include the one numbered ``id``. */
  function ownNode(id) {
    return document.querySelector('[data-own-ids~="' + id + '"]');
  }

  /** The line ``id`` of our own message is with the server: the message is when its last
   *  line is. */
  function markDelivered(id) {
    const node = ownNode(id);
    if (!node || node.dataset.ownIds.split(" ").pop() !== String(id)) return;
    node.classList.remove("pending");
    node.querySelector(".state").textContent = "";
    node.setAttribute("aria-busy", "false");
  }

  // ---------------------------------------------------------------- what people say

  function isMe(nick) {
    return !!nick && fold(nick) === fold(state.nick);
  }

  function timeOf(m) {
    const stamp = m.tags.time;
    if (stamp) {
      const date = new Date(stamp);
      if (!Number.isNaN(date.getTime())) return date;
    }
    return new Date();
  }

  function statusIn(channel, nick) {
    const conv = state.convs.get(fold(channel));
    const member = conv && conv.members.get(fold(nick));
    return member ? member.status : "";
  }

  function onText(m) {
    if (m.params.length < 2) return;
    let [target, text] = m.params;
    const msgid = m.tags.msgid || "";
    const history = state.batches.get(m.tags.batch || "") === "chathistory";
    const when = timeOf(m);
    const ownId = ownIdOf(msgid);
    const mine = ownId === null ? null : ownNode(ownId);
    if (mine) {
      // our own message, shown as ours already (a reload kept it pending): confirmed now,
      // and in its place among the replayed history
      state.seen.set(msgid, true);
      if (history && mine.classList.contains("pending")) {
        markDelivered(ownId);
        const time = mine.querySelector("time");
        time.textContent = "[" + clock(when) + "]";
        time.dateTime = when.toISOString();
        append(conversation(mine.parentElement.getAttribute("aria-label")), mine, true);
      } else {
        markDelivered(ownId);
      }
      return;
    }
    if (!firstSight(msgid)) return;
    const isChannel = target.startsWith("#");
    if (m.command === "NOTICE" && !m.source.includes("!")) {
      // the server itself (its operator at the console): an announcement nobody can fake
      if (state.registered) announce(isChannel ? target : state.active, text, W.announcement, when, history);
      return;
    }
    let kind = m.command === "NOTICE" ? "notice" : "message";
    if (text.length > 1 && text.startsWith("\x01") && text.endsWith("\x01")) {
      const inner = text.slice(1, -1);
      const space = inner.indexOf(" ");
      const verb = (space < 0 ? inner : inner.slice(0, space)).toUpperCase();
      if (verb !== "ACTION") return; // other CTCP requests are not for people
      kind = "action";
      text = space < 0 ? "" : inner.slice(space + 1);
    }
    if (kind === "notice" && isChannel && !history && statusIn(target, m.nick).includes("o")) {
      announce(target, text, W.announcementFrom(m.nick), when, false);
      return;
    }
    const own = isMe(m.nick);
    const where = isChannel ? target : own ? target : m.nick;
    rejoin(where, { when, nick: m.nick, text, kind, own, msgid, history }, CONTINUES_TAG in m.tags);
  }

  // ---------------------------------------------------------------- long messages
  // A Charla client sends a long message as several lines, all but the last tagged
  // CONTINUES_TAG; they are shown as one message, as the window does (net/text_cuts.py:
  // the same bounds), and deleting it deletes every line.

  const rejoining = new Map(); // sender/target/kind/history -> {where, first, texts, ids, size, timer}

  function rejoin(where, message, more) {
    const key = [message.nick.toLowerCase(), where.toLowerCase(), message.kind, message.history].join("\n");
    let open = rejoining.get(key);
    if (!open) {
      if (!more) {
        addMessage(where, message);
        return;
      }
      open = { where, first: message, texts: [], ids: [], size: 0, timer: 0 };
      open.timer = setTimeout(() => rejoinDone(key), REJOIN_WAIT_MS);
      rejoining.set(key, open);
    }
    open.texts.push(message.text);
    if (message.msgid) open.ids.push(message.msgid);
    open.size += message.text.length;
    if (!more || open.size >= REJOIN_MAX_CHARS) {
      rejoinDone(key);
    } else if (rejoining.size > REJOIN_MAX_OPEN) {
      rejoinDone(rejoining.keys().next().value);
    }
  }

  function rejoinDone(key) {
    const open = rejoining.get(key);
    if (!open) return;
    rejoining.delete(key);
    clearTimeout(open.timer);
    const message = Object.assign({}, open.first, { text: open.texts.join(""), msgid: open.ids[0] || "" });
    message.moreMsgids = open.ids.slice(1);
    addMessage(open.where, message);
  }

  /** The topic, said once: a rejoin after a reconnect does not repeat it. */
  function showTopic(channel, topic) {
    const conv = conversation(channel);
    if (conv.topic === topic) return;
    conv.topic = topic;
    if (topic) systemLine(channel, W.topic(topic));
  }

  function ownIdOf(msgid) {
    const prefix = "c-" + state.alias + "-";
    if (!msgid.startsWith(prefix)) return null;
    const id = Number(msgid.slice(prefix.length));
    return Number.isSafeInteger(id) ? id : null;
  }

  function onRedact(m) {
    const msgid = m.params[1] || "";
    for (const node of document.querySelectorAll(".msg")) {
      const later = node.dataset.more ? node.dataset.more.split(" ") : [];
      if (node.dataset.msgid === msgid || later.includes(msgid)) {
        const body = node.querySelector(".text");
        body.textContent = W.deleted;
        node.classList.add("deleted");
        pictureGone(node);
      }
    }
  }

  // ---------------------------------------------------------------- members and modes

  function conversation(name) {
    const key = fold(name);
    let conv = state.convs.get(key);
    if (!conv) {
      const log = el("ol", "log");
      log.id = "log-" + state.convs.size;
      log.setAttribute("role", "log");
      log.setAttribute("aria-live", "polite");
      log.setAttribute("aria-relevant", "additions");
      log.setAttribute("aria-label", name);
      log.tabIndex = 0;
      log.hidden = true;
      $("logs").appendChild(log);
      const tab = el("button", "tab");
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", log.id);
      const label = el("bdi", "", name);
      const badge = el("span", "badge");
      tab.append(label, badge);
      tab.addEventListener("click", () => activate(key));
      $("tabs").appendChild(tab);
      conv = { key, name, log, tab, badge, members: new Map(), unread: 0, channel: name.startsWith("#") };
      if (!conv.channel) {
        // a private conversation can be closed (it opens again with the next message)
        const close = el("button", "tab-close", "×");
        close.type = "button";
        close.setAttribute("aria-label", W.closeConversation(name));
        close.addEventListener("click", () => closeConversation(key));
        $("tabs").appendChild(close);
        conv.close = close;
      }
      state.convs.set(key, conv);
      if (!state.active) activate(key);
    }
    return conv;
  }

  function closeConversation(key) {
    const conv = state.convs.get(key);
    if (!conv || conv.channel) return;
    conv.log.remove();
    conv.tab.remove();
    conv.close.remove();
    state.convs.delete(key);
    if (state.active === key) activate(state.convs.keys().next().value || "");
  }

  function activate(key) {
    state.active = key;
    for (const conv of state.convs.values()) {
      const on = conv.key === key;
      conv.log.hidden = !on;
      conv.tab.setAttribute("aria-selected", on ? "true" : "false");
      conv.tab.tabIndex = on ? 0 : -1;
      if (on) {
        conv.unread = 0;
        conv.badge.textContent = "";
        $("title").textContent = conv.name;
        conv.log.scrollTop = conv.log.scrollHeight;
      }
    }
    renderMembers();
    refreshTeacher();
  }

  function onJoin(m) {
    const channel = m.params[0] || "";
    const conv = conversation(channel);
    if (isMe(m.nick)) {
      if (!state.channels.some((c) => fold(c) === fold(channel))) {
        state.channels.push(channel);
        store("channels", state.channels);
      }
      if (conv.wasHere) systemLine(channel, W.back(channel));
      conv.wasHere = true;
      send("MODE", [channel]);
    } else {
      showJoin(conv, m.nick);
    }
    conv.members.set(fold(m.nick), { nick: m.nick, status: "" });
    renderMembers();
  }

  function removeMember(channel, nick) {
    const conv = state.convs.get(fold(channel));
    if (conv) conv.members.delete(fold(nick));
    renderMembers();
    refreshTeacher();
  }

  function onNamesReply(m) {
    const conv = conversation(m.params[2] || "");
    if (!conv.namesPending) {
      conv.namesPending = true;
      conv.members.clear();
    }
    const letterOf = {};
    for (const [letter, symbol] of Object.entries(state.prefixes)) letterOf[symbol] = letter;
    for (const word of (m.params[m.params.length - 1] || "").split(" ")) {
      let i = 0;
      let status = "";
      while (i < word.length && (word[i] in letterOf || "~&@%+".includes(word[i]))) {
        status += letterOf[word[i]] || "";
        i++;
      }
      const nick = word.slice(i);
      if (nick) conv.members.set(fold(nick), { nick, status });
    }
  }

  function onNamesEnd(m) {
    const conv = conversation(m.params[1] || "");
    conv.namesPending = false;
    renderMembers();
    refreshTeacher();
  }

  function onMode(m) {
    const target = m.params[0] || "";
    const changes = [];
    let adding = true;
    const args = m.params.slice(2);
    for (const letter of m.params[1] || "") {
      if (letter === "+" || letter === "-") {
        adding = letter === "+";
        continue;
      }
      const takes = letter in state.prefixes || "bqIk".includes(letter) || (adding && "lS".includes(letter));
      changes.push([adding, letter, takes ? args.shift() || "" : ""]);
    }
    if (!target.startsWith("#")) {
      if (isMe(target)) {
        let modes = state.userModes;
        for (const [add, letter] of changes) modes = modes.replace(letter, "") + (add ? letter : "");
        setUserModes(modes);
      }
      return;
    }
    const conv = state.convs.get(fold(target));
    if (!conv) return;
    for (const [add, letter, param] of changes) {
      if (!(letter in state.prefixes) || !param) continue;
      const member = conv.members.get(fold(param));
      if (member) member.status = add ? member.status.replace(letter, "") + letter : member.status.replace(letter, "");
    }
    renderMembers();
    refreshTeacher();
  }

  function setUserModes(modes) {
    state.userModes = modes;
    refreshTeacher();
  }

  function rank(member) {
    if (member.status.includes("o")) return 0;
    if (member.status.includes("v")) return 1;
    return 2;
  }

  function renderMembers() {
    const conv = state.convs.get(state.active);
    const list = $("member-list");
    list.textContent = "";
    const members = conv ? Array.from(conv.members.values()) : [];
    members.sort((a, b) => rank(a) - rank(b) || a.nick.localeCompare(b.nick, "es", { sensitivity: "base" }) || (a.nick < b.nick ? -1 : 1));
    for (const member of members) {
      const item = el("li", "member");
      const button = el("button", "member-button " + nickColour(member.nick));
      button.type = "button";
      const badge = member.status.includes("o") ? "★ " : member.status.includes("v") ? "✎ " : "";
      if (badge) button.appendChild(el("span", "member-badge", badge));
      button.appendChild(el("bdi", "", member.nick));
      if (badge) {
        button.setAttribute("aria-label", member.nick + ", " + (member.status.includes("o") ? W.teacher : W.voice));
      }
      button.addEventListener("click", (event) => openNickMenu(event.currentTarget, member.nick));
      item.appendChild(button);
      list.appendChild(item);
    }
    const count = conv && conv.channel ? W.people(members.length) : "";
    $("members-count").textContent = count;
    $("members-button").textContent = "👥 " + (conv && conv.channel ? members.length : "");
    $("members-button").setAttribute("aria-label", W.peopleHere + (count ? ": " + count : ""));
  }

  function amOperator(channel) {
    return state.userModes.includes("o") || statusIn(channel, state.nick).includes("o");
  }

  function refreshTeacher() {
    const conv = state.convs.get(state.active);
    const teacher = !!conv && conv.channel && amOperator(conv.name);
    $("class-button").hidden = !teacher;
    if (!teacher) {
      $("class-panel").hidden = true;
      $("class-button").setAttribute("aria-expanded", "false");
    }
    document.body.classList.toggle("teacher", teacher);
  }

  // ---------------------------------------------------------------- drawing messages

  const LINK = /\bhttps?:\/\/[^\s<>"]+/gi;

  // IRC's bold, colour, reverse, italic, strike, monospace and reset codes (mIRC style):
  // left out, since the page does not draw them; other control characters are shown as
  // their visible pictures (U+2400 …), so none can hide or rearrange text
  const IRC_FORMATTING = /\x03(\d{1,2}(,\d{1,2})?)?|\x04[0-9a-fA-F]{0,6}|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g;
  const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f]/g;

  function readable(text) {
    return text.replace(IRC_FORMATTING, "").replace(CONTROLS, (c) =>
      String.fromCharCode(c === "\x7f" ? 0x2421 : 0x2400 + c.charCodeAt(0)));
  }

  /** text as nodes: plain text nodes, and <a> for http(s) addresses only. */
  function linkified(raw) {
    const text = readable(raw);
    const fragment = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      let url = match[0].replace(/[.,;:!?)\]}'»]+$/, "");
      let href = null;
      try {
        const parsed = new URL(url);
        if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
      } catch (e) {
        href = null;
      }
      if (!href) continue;
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      const a = el("a", "link", url);
      a.href = href;
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      fragment.appendChild(a);
      last = match.index + url.length;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  function mentions(nick, text) {
    if (!nick) return false;
    const needle = plain(nick).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp("(^|[^\\p{L}\\p{N}_])" + needle + "($|[^\\p{L}\\p{N}_])", "u").test(plain(text));
  }

  /** Add a line at the end; a replayed one goes before our messages still pending (a
   *  reload shows those before the history comes), so the talk stays in its order. */
  function append(conv, node, history) {
    const log = conv.log;
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const firstPending = history ? log.querySelector(":scope > .pending") : null;
    log.insertBefore(node, firstPending);
    while (log.childElementCount > MAX_LOG_ITEMS) log.firstElementChild.remove();
    if (atEnd || conv.key !== state.active) log.scrollTop = log.scrollHeight;
  }

  function messageNode({ when, nick, text, kind, own, msgid, history }) {
    const item = el("li", "msg " + kind);
    if (own) item.classList.add("own");
    if (history) item.classList.add("history");
    if (msgid) item.dataset.msgid = msgid;
    const time = el("time", "time", "[" + clock(when) + "]");
    time.dateTime = when.toISOString();
    const who = el("bdi", "nick " + nickColour(nick), nick);
    const body = el("bdi", "text");
    body.dir = "auto";
    body.appendChild(linkified(text));
    if (kind === "action") item.append(time, " ", el("span", "star", "* "), who, " ", body);
    else if (kind === "notice") item.append(time, " ", el("span", "", "-"), who, el("span", "", "- "), body);
    else item.append(time, " ", who, el("span", "colon", ": "), body);
    item.appendChild(el("span", "state"));
    if (kind === "message") addPicture(item, text);
    item.addEventListener("contextmenu", (event) => {
      if (openMessageMenu(item, event)) event.preventDefault();
    });
    item.addEventListener("dblclick", (event) => openMessageMenu(item, event));
    return item;
  }

  function addMessage(where, message) {
    const conv = conversation(where);
    const node = messageNode(message);
    node.dataset.nick = message.nick;
    if (message.moreMsgids && message.moreMsgids.length) node.dataset.more = message.moreMsgids.join(" ");
    const mentioned = !message.own && !message.history && mentions(state.nick, message.text);
    if (mentioned) node.classList.add("mention");
    append(conv, node, message.history);
    if (message.own && !message.history) conv.log.scrollTop = conv.log.scrollHeight; // ours (a picture): seen
    if (!message.history && !message.own) {
      const privateOne = !conv.channel;
      if (conv.key !== state.active || document.hidden) {
        conv.unread += 1;
        conv.badge.textContent = String(conv.unread);
      }
      if (mentioned || privateOne) {
        attention(privateOne ? W.privateTitle(message.nick) : W.mentionTitle(message.nick), message.text, conv.key);
      }
    }
  }

  /** Our own message, pending: ``items``, the outbox's lines of one message (a long one
   *  goes as several), shown as one. */
  function showOwn(items, when) {
    const item = items[0];
    let text = items.map((piece) => piece.text).join("");
    let kind = item.command === "NOTICE" ? "notice" : "message";
    if (item.text.startsWith("\x01ACTION ")) {
      kind = "action";
      text = items.map((piece) => piece.text.slice(8, -1)).join("");
    }
    const conv = conversation(item.target);
    const node = messageNode({ when, nick: state.nick, text, kind, own: true, msgid: msgidOf(item.id), history: false });
    node.dataset.ownIds = items.map((piece) => piece.id).join(" ");
    if (items.length > 1) node.dataset.more = items.slice(1).map((piece) => msgidOf(piece.id)).join(" ");
    node.dataset.nick = state.nick;
    if (kind === "notice" && conv.channel && amOperator(conv.name)) {
      // a teacher's notice to the room is an announcement: shown as the students see it
      node.classList.add("announcement");
      node.insertBefore(el("strong", "heading", W.announcementFrom(state.nick) + ": "), node.querySelector(".text"));
    }
    node.classList.add("pending");
    node.setAttribute("aria-busy", "true");
    node.querySelector(".state").textContent = W.sending;
    append(conv, node);
  }

  /** "ana joined", and a run of arrivals (a class coming in) as one line that grows:
   *  "4 people joined: ana, beto, …" (the window folds them too, gui/comings.py). */
  function showJoin(conv, nick) {
    const last = conv.log.lastElementChild;
    if (last && last === conv.joinLine && conv.joiners.length < 200) {
      conv.joiners.push(nick);
      last.querySelector(".text").textContent = W.joinedMany(conv.joiners);
      return;
    }
    systemLine(conv.name, W.joined(nick), "join");
    conv.joinLine = conv.log.lastElementChild;
    conv.joiners = [nick];
  }

  function systemLine(where, text, kind) {
    const conv = where ? conversation(where) : state.convs.get(state.active);
    if (!conv) return;
    const item = el("li", "system" + (kind ? " " + kind : ""));
    item.append(el("time", "time", "[" + clock(new Date()) + "]"), " ");
    const body = el("bdi", "text");
    body.dir = "auto";
    body.textContent = readable(text); // a topic, a kick reason: anyone's words
    item.appendChild(body);
    append(conv, item);
  }

  /** A banner above the conversation, and a line in it; only for real announcements. */
  function announce(where, text, heading, when, history) {
    const conv = conversation(where || DEFAULT_CHANNEL);
    const line = el("li", "announcement");
    line.append(el("time", "time", "[" + clock(when) + "]"), " ", el("strong", "heading", heading + ": "));
    const body = el("bdi", "text");
    body.dir = "auto";
    body.appendChild(linkified(text));
    line.appendChild(body);
    append(conv, line);
    if (history) return;
    const banner = el("div", "banner");
    const title = el("strong", "heading", heading);
    const words = el("p", "banner-text");
    words.dir = "auto";
    words.appendChild(linkified(text));
    const close = el("button", "banner-close", "×");
    close.type = "button";
    close.setAttribute("aria-label", W.close);
    close.addEventListener("click", () => banner.remove());
    banner.append(title, words, close);
    const banners = $("banners");
    banners.appendChild(banner);
    while (banners.childElementCount > MAX_BANNERS) banners.firstElementChild.remove();
    attention(heading, text, conv.key);
  }

  function attention(title, text, key) {
    if (!document.hidden) return;
    state.unread += 1;
    document.title = "(" + state.unread + ") Charla";
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const note = new Notification(title, { body: text.slice(0, 200), tag: "charla-" + key });
      note.onclick = () => { window.focus(); activate(key); note.close(); };
    } catch (e) {
      /* some phones only notify from a service worker: the title still counts */
    }
  }

  // ---------------------------------------------------------------- menus (nick, message)

  function closeMenu() {
    const menu = $("menu");
    menu.hidden = true;
    menu.textContent = "";
    if (state.menuOpener) state.menuOpener.focus();
    state.menuOpener = null;
  }

  function openMenu(opener, entries, x, y) {
    const menu = $("menu");
    menu.textContent = "";
    if (!entries.length) return false;
    for (const [label, action] of entries) {
      const item = el("button", "menu-item", label);
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.addEventListener("click", () => { closeMenu(); action(); });
      menu.appendChild(item);
    }
    state.menuOpener = opener;
    menu.hidden = false;
    const rect = opener.getBoundingClientRect();
    const left = x !== undefined ? x : rect.left;
    const top = y !== undefined ? y : rect.bottom;
    menu.style.left = Math.max(4, Math.min(left, window.innerWidth - menu.offsetWidth - 4)) + "px";
    menu.style.top = Math.max(4, Math.min(top, window.innerHeight - menu.offsetHeight - 4)) + "px";
    menu.firstElementChild.focus();
    return true;
  }

  function openNickMenu(opener, nick) {
    const conv = state.convs.get(state.active);
    const entries = [];
    if (!isMe(nick)) {
      entries.push([W.privateTo, () => {
        activate(conversation(nick).key);
        if (matchMedia("(max-width: 759px)").matches) closeDrawer(); // it covered the talk
        $("text").focus();
      }]);
    }
    if (conv && conv.channel && amOperator(conv.name) && !isMe(nick)) {
      const channel = conv.name;
      const mask = nick + "!*@*";
      // timed ones: the server lifts them (TQUIET/TBAN, as the window's nick menu)
      for (const minutes of MUTE_MINUTES) {
        entries.push([W.muteFor(minutes), () => send("TQUIET", [channel, String(minutes * 60), mask])]);
      }
      entries.push([W.mute, () => send("MODE", [channel, "+q", mask])]);
      entries.push([W.unmute, () => send("MODE", [channel, "-q", mask])]);
      entries.push([W.remove, () => send("KICK", [channel, nick, ""])]);
      // a ban alone would leave them reading the room: they are removed too
      for (const minutes of BAN_MINUTES) {
        entries.push([W.banFor(minutes), () => {
          send("TBAN", [channel, String(minutes * 60), mask]);
          send("KICK", [channel, nick, W.banned]);
        }]);
      }
      entries.push([W.ban, () => {
        send("MODE", [channel, "+b", mask]);
        send("KICK", [channel, nick, W.banned]);
      }]);
    }
    openMenu(opener, entries);
  }

  function openMessageMenu(item, event) {
    const conv = state.convs.get(state.active);
    const msgid = item.dataset.msgid;
    if (!conv || !conv.channel || !msgid || item.classList.contains("deleted")) return false;
    if (item.classList.contains("pending") || item.classList.contains("refused")) return false;
    if (!(item.classList.contains("own") || amOperator(conv.name))) return false;
    const all = [msgid, ...(item.dataset.more ? item.dataset.more.split(" ") : [])];
    return openMenu(item, [[W.deleteMessage, () => all.forEach((id) => send("REDACT", [conv.name, id, ""]))]],
      event.clientX, event.clientY);
  }

  // ---------------------------------------------------------------- the page's controls

  function setStatus(text, offline) {
    $("status").textContent = text;
    document.body.classList.toggle("offline", !!offline);
  }

  function showLogin(error) {
    store("inChat", false); // a reload asks again
    document.body.classList.remove("in-chat");
    $("chat").hidden = true;
    $("login").hidden = false;
    $("nick").value = state.nick || $("nick").value;
    showLoginError(error || "");
  }

  function showLoginError(text) {
    $("login-error").textContent = text;
  }

  function showChat() {
    store("inChat", true); // a reload comes back in as the same client
    document.body.classList.add("in-chat");
    $("login").hidden = true;
    $("chat").hidden = false;
    $("text").focus();
  }

  function onLogin(event) {
    event.preventDefault();
    clearTimeout(state.loginRetry);
    const nick = $("nick").value.trim();
    if (!nick) return showLoginError(W.needName);
    if (!validNick(nick)) return showLoginError(W.badName);
    if (state.everRegistered && fold(nick) !== fold(state.nick)) {
      // another name: another person as far as the server knows
      state.token = randomToken();
      state.alias = sessionAlias(state.token);
      store("token", state.token);
    }
    state.nick = nick;
    store("nick", nick);
    const room = $("room-password").value;
    const account = $("account-password").value;
    state.roomPassword = room || null;
    state.accountPassword = account || null;
    state.fatal = false;
    state.attempt = 0;
    showLoginError("");
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {}); // asked on a click, as browsers want
    }
    showChat();
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      ws.close();
    }
    connect();
  }

  const COMMANDS = {
    me: (args, target) => args && say(target, args, { action: true }),
    yo: (args, target) => args && say(target, args, { action: true }),
    msg: privateCommand,
    privado: privateCommand,
    join: joinCommand,
    unirse: joinCommand,
    part: partCommand,
    dejar: partCommand,
    nick: nickCommand,
    apodo: nickCommand,
    announce: (args) => args && teacherAnnounce(args),
    aviso: (args) => args && teacherAnnounce(args),
  };

  function nickCommand(args) {
    const nick = args.split(" ")[0];
    if (validNick(nick)) send("NICK", [nick]); // the server answers: NICK, or why not
    else systemLine(state.active, W.badName, "error");
  }

  function joinCommand(args) {
    const name = args.split(" ")[0];
    const channel = name.startsWith("#") ? name : "#" + name;
    if (channel.length < 2 || /[\s,\x00-\x1f]/.test(channel)) return;
    if (!state.channels.some((c) => fold(c) === fold(channel))) state.channels.push(channel);
    store("channels", state.channels);
    send("JOIN", [channel]);
    activate(conversation(channel).key);
  }

  function partCommand(args, target) {
    const channel = args.split(" ")[0] || target;
    if (!channel.startsWith("#")) return;
    state.channels = state.channels.filter((c) => fold(c) !== fold(channel));
    store("channels", state.channels);
    send("PART", [channel]);
  }

  function privateCommand(args) {
    const space = args.indexOf(" ");
    const nick = space < 0 ? args : args.slice(0, space);
    const text = space < 0 ? "" : args.slice(space + 1).trim();
    if (!validNick(nick)) return;
    activate(conversation(nick).key);
    if (text) say(nick, text);
  }

  function teacherAnnounce(text) {
    const conv = state.convs.get(state.active);
    if (!conv || !conv.channel) return;
    say(conv.name, text, { notice: true });
  }

  function onSubmit(event) {
    event.preventDefault();
    const input = $("text");
    const text = input.value;
    const conv = state.convs.get(state.active);
    if (!text.trim() || !conv) return;
    input.value = "";
    if (text.startsWith("/") && !text.startsWith("//")) {
      const space = text.indexOf(" ");
      const name = (space < 0 ? text.slice(1) : text.slice(1, space)).toLowerCase();
      const args = space < 0 ? "" : text.slice(space + 1).trim();
      const command = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : null;
      if (command) command(args, conv.name);
      else systemLine(conv.name, W.unknownCommand(name), "error");
      return;
    }
    if (!say(conv.name, text.startsWith("//") ? text.slice(1) : text)) input.value = text;
  }

  function setUp() {
    document.documentElement.lang = LANG;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      const text = W[node.dataset.i18n];
      if (typeof text === "string") node.textContent = text;
    }
    for (const node of document.querySelectorAll("[data-i18n-label]")) {
      node.setAttribute("aria-label", W[node.dataset.i18nLabel]);
    }
    $("text").placeholder = W.messageLabel;
    const emojiPanel = $("emoji-panel");
    for (const emoji of EMOJI) {
      const button = el("button", "emoji", emoji);
      button.type = "button";
      button.addEventListener("click", () => {
        const input = $("text");
        const at = input.selectionStart === null ? input.value.length : input.selectionStart;
        input.value = input.value.slice(0, at) + emoji + input.value.slice(input.selectionEnd || at);
        input.focus();
        input.selectionStart = input.selectionEnd = at + emoji.length;
      });
      emojiPanel.appendChild(button);
    }
    toggler("emoji-button", "emoji-panel");
    setUpPictures();
    toggler("members-button", "members");
    toggler("class-button", "class-panel");
    $("login-form").addEventListener("submit", onLogin);
    $("composer").addEventListener("submit", onSubmit);
    $("announce-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("announce-text").value.trim();
      if (text) teacherAnnounce(text);
      $("announce-text").value = "";
      $("class-panel").hidden = true;
      $("class-button").setAttribute("aria-expanded", "false");
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("menu").hidden) closeMenu();
    });
    $("menu").addEventListener("keydown", (event) => {
      const items = Array.from($("menu").children);
      const at = items.indexOf(document.activeElement);
      const step = event.key === "ArrowDown" ? 1 : event.key === "ArrowUp" ? -1 : 0;
      if (!step) return;
      event.preventDefault();
      items[(at + step + items.length) % items.length].focus();
    });
    document.addEventListener("click", (event) => {
      if (!$("menu").hidden && !$("menu").contains(event.target)) closeMenu();
    }, true);
    $("tabs").addEventListener("keydown", (event) => {
      const keys = Array.from(state.convs.keys());
      const at = keys.indexOf(state.active);
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!step || at < 0) return;
      const next = state.convs.get(keys[(at + step + keys.length) % keys.length]);
      activate(next.key);
      next.tab.focus();
    });
    // a phone waking up, a tab shown again, the network back: reconnect at once
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) {
        state.unread = 0;
        document.title = "Charla";
        reconnectNow();
      }
    });
    window.addEventListener("online", reconnectNow);
    window.addEventListener("pageshow", (event) => { if (event.persisted) reconnectNow(); });
    window.addEventListener("pagehide", () => saveOutbox());

    // a reload (or a phone that threw the tab away) comes back as the same client;
    // a duplicated tab, which inherits this one's storage, becomes a client of its own
    if (state.nick && restore("inChat", false)) {
      whenTokenIsOurs(() => {
        let message = [];
        for (const item of state.outbox) {
          message.push(item);
          if (!item.more) {
            showOwn(message, new Date());
            message = [];
          }
        }
        if (message.length) showOwn(message, new Date());
        showChat();
        connect();
      });
    } else {
      let last = "";
      try {
        last = localStorage.getItem(STORE + "lastNick") || "";
      } catch (e) { /* nothing remembered */ }
      $("nick").value = state.nick || last;
      $("nick").focus();
    }
  }

  /** Tabs of this page tell each other their session tokens (BroadcastChannel): a tab
   *  made by "Duplicate" or window.open starts with a copy of its parent's
   *  sessionStorage, and two connections with one token would take the nick from each
   *  other for ever. If another tab answers for our token, we take a new one and leave
   *  the waiting messages to it; after DUPLICATE_CHECK_MS of silence we are its owner. */
  function whenTokenIsOurs(then) {
    if (!("BroadcastChannel" in window)) return then();
    let decided = false;
    const decide = (duplicate) => {
      if (decided) return;
      decided = true;
      if (duplicate) {
        state.token = randomToken();
        state.alias = sessionAlias(state.token);
        state.outbox = [];
        state.lastId = 0;
        state.everRegistered = false; // a name in use is said, not worked around
        store("token", state.token);
        saveOutbox();
      }
      then();
    };
    tabs.onmessage = (event) => {
      if (event.data && event.data.mine === state.token) decide(true);
    };
    tabs.postMessage({ whose: state.token });
    setTimeout(() => decide(false), DUPLICATE_CHECK_MS);
  }

  function closeDrawer() {
    $("members").hidden = true;
    $("members-button").setAttribute("aria-expanded", "false");
  }

  function toggler(buttonId, panelId) {
    $(buttonId).addEventListener("click", () => {
      const panel = $(panelId);
      panel.hidden = !panel.hidden;
      $(buttonId).setAttribute("aria-expanded", panel.hidden ? "false" : "true");
    });
  }


  // ---------------------------------------------------------------- pictures (issue 16)
  // Uploads through POST /upload with the token of this connection's 005
  // (charla.chat/UPLOAD=…), and thumbnails for the server's /f/<id> links. Nothing from a
  // message is inserted as HTML: an <img> is made only for an id matching FILE_ID, and
  // always with a relative path (CSP img-src 'self'; the host in the link may differ).

  const FILE_ID = /\/f\/([A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])/;
  const PICTURE_NAME = /\.(png|gif|jpe?g)$/i;
  const THUMBNAIL_SIDE = 240; // px, as the window's gui/pictures.py

  function pictureIsupport(token) {
    const match = /^charla\.chat\/UPLOAD=([\x21-\x7e]+)$/.exec(token);
    if (match) state.uploadToken = match[1];
  }

  /** The link's id and its shown name (the server says "📎 <name> <link>"). */
  function pictureOf(text) {
    const line = readable(text);
    const match = FILE_ID.exec(line);
    if (!match) return null;
    const start = line.lastIndexOf(" ", match.index) + 1; // the link's first character
    const name = line.slice(0, start).replace(/^\s*📎\s*/u, "").trim();
    return { id: match[1], name, picture: PICTURE_NAME.test(name) };
  }

  function addPicture(item, text) {
    const found = pictureOf(text);
    if (!found) return;
    const href = "/f/" + found.id;
    const figure = el("figure", "picture");
    const a = el("a", "picture-link");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener";
    if (found.picture) {
      const img = document.createElement("img");
      img.src = href;
      img.loading = "lazy";
      img.alt = found.name || W.pictureOf(item.dataset.nick || "");
      img.className = "thumbnail";
      img.addEventListener("error", () => figure.remove()); // gone or broken: the link stays
      img.addEventListener("load", () => {
        // it grew its message: a conversation that was showing its end still does
        const log = item.parentElement;
        if (!log) return;
        const grown = figure.getBoundingClientRect().height;
        if (log.scrollHeight - grown - log.scrollTop - log.clientHeight < 40) log.scrollTop = log.scrollHeight;
      });
      a.appendChild(img);
    } else {
      a.className += " file";
      a.textContent = "📄 " + (found.name || found.id);
    }
    figure.appendChild(a);
    item.appendChild(figure);
  }

  function pictureGone(item) {
    const figure = item.querySelector(".picture");
    if (figure) figure.replaceChildren(el("span", "picture-gone", W.pictureGone));
  }

  function uploadStatus(text, kind) {
    const status = $("upload-status");
    status.textContent = text;
    status.className = "upload-status" + (kind ? " " + kind : "");
    status.hidden = !text;
  }

  function upload(file) {
    const conv = state.convs.get(state.active);
    if (!conv) return;
    const name = file.name || "foto";
    if (!state.uploadToken || !state.registered) {
      uploadStatus(W.uploadFailed(name, W.uploadNoToken), "error");
      return;
    }
    const request = new XMLHttpRequest(); // XHR, not fetch: it reports upload progress
    request.open("POST", "/upload?to=" + encodeURIComponent(conv.name) + "&name=" + encodeURIComponent(name));
    request.setRequestHeader("Authorization", "Bearer " + state.uploadToken);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) uploadStatus(W.uploading(name, Math.floor(100 * event.loaded / event.total)));
    });
    request.addEventListener("load", () => {
      if (request.status === 201) {
        uploadStatus(W.uploaded(name), "done");
        const said = W.uploaded(name);
        setTimeout(() => { if ($("upload-status").textContent === said) uploadStatus(""); }, UPLOADED_SHOWN_MS);
      }
      else uploadStatus(W.uploadFailed(name, uploadRefusal(request)), "error");
    });
    request.addEventListener("error", () => uploadStatus(W.uploadFailed(name, W.uploadNetwork), "error"));
    request.addEventListener("timeout", () => uploadStatus(W.uploadFailed(name, W.uploadNetwork), "error"));
    uploadStatus(W.uploading(name, 0));
    request.send(file);
  }

  /** Why the server refused an upload, in the page's language for the usual reasons (the
   *  server's own text is in the server's language); else the server's words. */
  function uploadRefusal(request) {
    const said = String(request.responseText || request.status).trim().slice(0, 300);
    switch (request.status) {
      case 413: {
        const limit = /(\d+(?:\.\d+)?) MB/.exec(said); // the server's figure, in either language
        return W.uploadTooBig(limit ? limit[1] : "");
      }
      case 415:
        return W.uploadNotPicture;
      case 429:
        return W.uploadTooFast;
      case 503:
        return W.uploadBusy;
      default:
        return said;
    }
  }

  function setUpPictures() {
    $("attach-button").setAttribute("aria-label", W.attach);
    $("attach-button").title = W.attach;
    $("attach-button").addEventListener("click", () => $("attach-input").click());
    $("attach-input").addEventListener("change", () => {
      const input = $("attach-input");
      for (const file of Array.from(input.files || [])) upload(file);
      input.value = "";
    });
  }

  // for the tests and curious readers: the session's public name, as the server computes it
  window.charla = Object.freeze({ sessionAlias, words: WORDS, state: () => ({ nick: state.nick, alias: state.alias, outbox: state.outbox.length, registered: state.registered }) });

  setUp();
})();
