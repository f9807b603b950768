/** Real KEK calls against Vault Transit: batch unwraps, metrics, spans, the secrecy scan. */
import { randomBytes } from 'node:crypto';
import { createEnvelope } from '@cmek/core';
import { createVaultKekProvider } from '@cmek/provider-vault';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cmekTelemetry, CMEK_METRICS as M } from '../src/index';
import { createOtel, exportedStrings, type Otel, sumOf } from './support/otel';
import { Secrets } from './support/secrets';
import { createTransitKey, vaultService } from './support/services';

const vault = vaultService();
const field = { field: 'smtp.password' };

let otel: Otel;
beforeEach(() => {
  otel = createOtel();
});
afterEach(async () => {
  await otel.shutdown();
});

describe.skipIf(!vault)('against Vault Transit', () => {
  it('counts one unwrapMany call for three DEKs, with the key name; no secret in any attribute', async () => {
    const secrets = new Secrets();
    secrets.add(vault!.token);
    const keyName = await createTransitKey(vault!);
    const provider = () =>
      secrets.capture(
        createVaultKekProvider({ endpoint: vault!.addr, token: vault!.token, keyName }),
      );
    const telemetry = cmekTelemetry(otel.providers);
    const writer = createEnvelope({
      kek: provider(),
      onEvent: telemetry.onEvent,
      dekCache: { maxUses: 1 },
    });
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      const plaintext = `smtp-${randomBytes(12).toString('hex')}`;
      secrets.add(plaintext);
      const token = await writer.encrypt(plaintext, { context: field });
      secrets.token(token);
      tokens.push(token);
    }
    const reader = createEnvelope({ kek: provider(), onEvent: telemetry.onEvent });
    expect(
      (await reader.decryptMany(tokens, { context: field })).every((v) => v?.startsWith('smtp-')),
    ).toBe(true);
    await reader.decrypt(tokens[0]!, { context: { field: 'smtp.other' } }).catch(() => undefined);

    const points = await otel.points();
    const kek = {
      'cmek.kek.provider': 'vault',
      'cmek.kek.key_ref': `transit/${keyName}`,
      'cmek.kek.outcome': 'ok',
    };
    expect(
      sumOf(points, M.kekCalls.name, { ...kek, 'cmek.kek.operation': 'generateDataKey' }),
    ).toBe(3);
    expect(sumOf(points, M.kekCalls.name, { ...kek, 'cmek.kek.operation': 'unwrapMany' })).toBe(1);
    expect(sumOf(points, M.kekDeks.name, { ...kek, 'cmek.kek.operation': 'unwrapMany' })).toBe(3);
    expect(
      sumOf(points, M.decryptFailures.name, {
        'error.type': 'CMEK_DECRYPTION',
        'cmek.field': 'smtp.other',
      }),
    ).toBe(1);
    const batchSpan = otel.spans().find((s) => s.name === 'cmek.kek.unwrapMany');
    expect(batchSpan?.attributes['cmek.kek.dek_count']).toBe(3);

    const exported = exportedStrings(points, otel.spans());
    expect(exported).toContain(`transit/${keyName}`);
    secrets.expectNoneIn(exported, 3);
    await writer.close();
    await reader.close();
  });
});
