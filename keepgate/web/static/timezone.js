// Tells the server the browser's time zone (an IANA name such as "Europe/London") in the
// keepgate_tz cookie, so that pages show times in it; without it they show UTC, and say so.
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (zone && /^[A-Za-z0-9_+\-/]{1,64}$/.test(zone)) {
  const cookie = `keepgate_tz=${zone}`;
  if (!document.cookie.split("; ").includes(cookie)) {
    const secure = location.protocol === "https:" ? "; secure" : "";
    document.cookie = `${cookie}; path=/; max-age=31536000; samesite=lax${secure}`;
  }
}
