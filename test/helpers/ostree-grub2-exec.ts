/**
 * Stands in for `ib __ostree-grub2-exec` in tests (run with vite-node, so no build is needed):
 * libostree runs it as `PROG -o SYSROOT/boot/loader.N/grub.cfg` during deploy and upgrade.
 */
import { generateGrubCfg } from '../../src/ostree/grub-exec.js';

await generateGrubCfg(process.argv.slice(2));
