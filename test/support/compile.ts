import { execFileSync } from 'node:child_process';

/**
 * One YARA rule that takes libyara seconds to compile and more with `count` (each xor string is 256 keys
 * in two widths, each nocase regular expression many atoms): 100 such pairs took 0.8 s here, 200 took 2 s.
 */
export function slowToCompileRule(count: number): string {
  const strings = Array.from(
    { length: count },
    (_, i) =>
      `$x${i} = "abcdefgh${i}" xor(0-255) wide ascii $r${i} = /[a-z]{2,40}q${i}[0-9]{1,30}/ nocase wide ascii`,
  );
  return `rule slow { strings: ${strings.join(' ')} condition: any of them }`;
}

/** Compiler processes (libs/yara's compile-child) that `parentPid` started and that are still running. */
export function compilerProcesses(parentPid: number | undefined): string[] {
  return execFileSync('ps', ['-o', 'ppid=,args=', '-e'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.trim().startsWith(`${parentPid} `) && line.includes('compile-child'));
}
