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

// Built once per configured list: this runs on every request. BlockList.check builds a
// SocketAddress per call, so verdicts are remembered per address (peers are few: proxies, clients).
const blockLists = new WeakMap<string[], { list: net.BlockList; verdicts: Map<string, boolean> }>();
const MAX_VERDICTS = 4096;

export function isTrusted(address: string, trusted: string[]): boolean {
  if (!address || trusted.length === 0) return false;
  let entry = blockLists.get(trusted);
  if (!entry) {
    const list = new net.BlockList();
    for (const item of trusted) addEntry(list, item);
    entry = { list, verdicts: new Map() };
    blockLists.set(trusted, entry);
  }
  let verdict = entry.verdicts.get(address);
  if (verdict === undefined) {
    const family = net.isIPv6(address) ? "ipv6" : "ipv4";
    verdict = net.isIP(address) !== 0 && entry.list.check(address, family);
    if (entry.verdicts.size >= MAX_VERDICTS) entry.verdicts.clear();
    entry.verdicts.set(address, verdict);
  }
  return verdict;
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
