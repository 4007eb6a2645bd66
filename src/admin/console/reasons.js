// Why a delivery was dead-lettered, in words for operations staff, and whether a redrive
// can help.

const WORDS = {
  final_status: "The provider refused it with an answer that retrying cannot change (a 4xx status).",
  attempts_exhausted: "Every attempt failed: the provider kept answering with errors or timing out.",
  user_unknown: "The provider does not know this user (no contact or conversation to send to). " +
    "A redrive would fail the same way, so it is not offered: fix the user at the provider first.",
  user_ambiguous: "More than one contact at the provider matches this user, so nothing was sent.",
  unreadable: "The stored delivery could not be read back; it was never sent.",
  dns: "The provider's host name did not resolve (DNS).",
  refused: "The provider's server refused the connection.",
  tls: "The secure connection to the provider failed (certificate or TLS).",
  timeout: "The provider did not answer in time (timeout_ms).",
  unsupported: "The provider cannot carry out this action (its kind changed in the config); nothing was sent.",
  window_closed: "WhatsApp's 24-hour window with this user is closed: only an approved template reaches them now.",
};

/// A sentence saying what `reason` means.
export function reasonWords(reason) {
  return WORDS[reason] || "Dead-lettered (" + reason + ").";
}

/// Whether redriving a letter with this reason can succeed.
export function redrivable(reason) {
  return reason !== "user_unknown";
}

export const REASONS = Object.keys(WORDS);
