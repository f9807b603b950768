/** The version of `@cmek/cli` (`cmek --version`), from its package.json (inlined by the build). */
import packageJson from '../package.json';

export const VERSION: string = packageJson.version;
