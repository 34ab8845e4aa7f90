import net from "node:net";

/**
 * The address of the client that sent the request. X-Forwarded-For is believed only when the direct
 * peer is a trusted proxy (TOOLGATE_TRUSTED_PROXIES: addresses, CIDR ranges, or "loopback"); then
 * the right-most address that is not itself a trusted proxy is the client.
 */
export function clientAddressOf(
  remoteAddress: string | undefined,
  forwardedFor: string | null | undefined,
  trustedProxies: string[],
): string {
  const peer = normalise(remoteAddress ?? "");
  if (!forwardedFor || trustedProxies.length === 0 || !isTrusted(peer, trustedProxies)) return peer;
  const hops = forwardedFor
    .split(",")
    .map((s) => normalise(s.trim()))
    .filter((s) => net.isIP(s) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!isTrusted(hops[i]!, trustedProxies)) return hops[i]!;
  }
  return hops[0] ?? peer;
}

function normalise(address: string): string {
  return address.startsWith("::ffff:") && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

// Built once per configured list: this runs on every request.
const blockLists = new WeakMap<string[], net.BlockList>();

export function isTrusted(address: string, trusted: string[]): boolean {
  if (!address || trusted.length === 0) return false;
  let list = blockLists.get(trusted);
  if (!list) {
    list = new net.BlockList();
    for (const entry of trusted) addEntry(list, entry);
    blockLists.set(trusted, list);
  }
  const family = net.isIPv6(address) ? "ipv6" : "ipv4";
  return net.isIP(address) !== 0 && list.check(address, family);
}

function addEntry(list: net.BlockList, entry: string) {
  if (entry === "loopback") {
    list.addSubnet("127.0.0.0", 8, "ipv4");
    list.addAddress("::1", "ipv6");
    return;
  }
  const [addr, bits] = entry.split("/");
  if (!addr || net.isIP(addr) === 0) return;
  const family = net.isIPv6(addr) ? "ipv6" : "ipv4";
  if (bits === undefined) list.addAddress(addr, family);
  else list.addSubnet(addr, Number(bits), family);
}
