import { type Stats, chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CommandRunner } from "../host/run-command.js";
import type { BootstrapTool } from "./bootstrap-runner.js";
import type { ImageRecipe } from "./image-recipe.js";

/**
 * Turns a freshly bootstrapped Debian tree (owners still 0..65535) into an Atoll base image:
 * the `app` user, hostname and hosts files, an empty resolv.conf and /dev, mount points, and
 * the lean pruning (dpkg path rules applied to the installed tree). Runs as real root on the
 * host; `chroot` is only used for groupadd/useradd, which must run against the image's /etc.
 */
export async function customizeRootfs(runner: CommandRunner, root: string, recipe: ImageRecipe, options: { tool: BootstrapTool }): Promise<void> {
  const { user, hostname, dpkgPathRules } = recipe.content;

  await runner.run("chroot", [root, "groupadd", "--gid", String(user.gid), user.name]);
  await runner.run("chroot", [
    root,
    "useradd",
    "--uid",
    String(user.uid),
    "--gid",
    String(user.gid),
    "--home-dir",
    user.home,
    "--create-home",
    "--shell",
    user.shell,
    user.name,
  ]);
  chmodSync(join(root, user.home), 0o755);

  writeFileSync(join(root, "etc/hostname"), `${hostname}\n`, { mode: 0o644 });
  chmodSync(join(root, "etc/hostname"), 0o644);
  writeFileSync(join(root, "etc/hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n", {
    mode: 0o644,
  });
  // The bootstrap tool copied the host's resolv.conf in; a sandbox gets its DNS from the network
  // driver (bind mount over this file), never the host's configuration.
  rmSync(join(root, "etc/resolv.conf"), { force: true });
  writeFileSync(join(root, "etc/resolv.conf"), "", { mode: 0o644 });

  // The bootstrap tool created device nodes; a sandbox gets a fresh /dev from bwrap, and
  // device nodes in the image would only be a way around it.
  emptyDirectory(join(root, "dev"), []);
  chmodSync(join(root, "dev"), 0o755);

  mkdirSync(join(root, "tmp"), { recursive: true });
  chmodSync(join(root, "tmp"), 0o1777);
  for (const dir of [".atoll", "mnt"]) {
    mkdirSync(join(root, dir), { recursive: true });
    chmodSync(join(root, dir), 0o755);
  }

  // apt metadata is re-downloaded by `apt-get update` inside a sandbox when needed.
  emptyDirectory(join(root, "var/lib/apt/lists"), ["lock", "partial"]);
  emptyDirectory(join(root, "var/cache/apt"), ["archives"]);
  emptyDirectory(join(root, "var/cache/apt/archives"), ["lock", "partial"]);
  // Logs of the build itself.
  for (const log of ["var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log"]) {
    rmSync(join(root, log), { force: true });
  }
  rmSync(join(root, "var/log/apt"), { recursive: true, force: true });
  mkdirSync(join(root, "var/log/apt"), { recursive: true });

  if (options.tool === "debootstrap") {
    // debootstrap takes one mirror and writes only that one: list updates and security too.
    if (recipe.sources.length > 0) {
      writeFileSync(join(root, "etc/apt/sources.list"), `${recipe.sources.join("\n")}\n`, { mode: 0o644 });
    }
    // debootstrap has no dpkg options (mmdebstrap wrote them to 99mmdebstrap): add them for
    // packages installed later inside sandboxes.
    writeFileSync(join(root, "etc/dpkg/dpkg.cfg.d/01-atoll-lean"), `${dpkgPathRules.join("\n")}\n`, { mode: 0o644 });
  }
  // Apply the rules to what is installed: debootstrap ignored them, and mmdebstrap's extract
  // phase (essential packages) and symlinks shipped by packages slip past them too.
  prunePaths(root, dpkgPathRules);
}

/** Deletes every entry of `dir` except the names in `keep` (missing dir: nothing to do). */
function emptyDirectory(dir: string, keep: string[]): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (!keep.includes(name)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/** dpkg path rules use fnmatch(3) without FNM_PATHNAME: `*` also matches `/`. */
function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/**
 * Applies dpkg `path-exclude`/`path-include` rules to an installed tree: a file is removed when
 * the last rule matching it is an exclude. Directories are kept, as dpkg keeps them.
 */
export function prunePaths(root: string, rules: readonly string[]): number {
  const parsed = rules.map((rule) => {
    const [kind, glob] = rule.split("=", 2) as [string, string];
    return { exclude: kind === "path-exclude", re: globToRegExp(glob), glob };
  });
  const excluded = (path: string): boolean => {
    let result = false;
    for (const rule of parsed) if (rule.re.test(path)) result = rule.exclude;
    return result;
  };
  // Only the trees the exclude rules can match need walking.
  const prefixes = parsed.filter((r) => r.exclude).map((r) => r.glob.slice(0, r.glob.indexOf("*")).replace(/\/[^/]*$/, ""));
  let removed = 0;
  const stack = [...new Set(prefixes)];
  while (stack.length > 0) {
    const path = stack.pop()!;
    const full = join(root, path);
    let st: Stats;
    try {
      st = lstatSync(full);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(full)) stack.push(`${path}/${name}`);
    } else if (excluded(path)) {
      rmSync(full, { force: true });
      removed += 1;
    }
  }
  return removed;
}
