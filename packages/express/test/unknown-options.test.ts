/**
 * Regression: a misspelt option passed through the Express adapter (`audiance`) used to be accepted silently.
 * The adapter's own option (`passErrors`) is stripped before the core checks the rest.
 */
import { tokenGuard, type TokenGuardOptions } from '@tokenguard/express';
import { makeKey } from '../../../test/helpers/keys';
import { expectUnknownOptionsRejected } from '../../../test/helpers/unknown-options';

it('tokenGuard (express) throws a TypeError naming a misspelt option, top level and nested; accepts passErrors', async () => {
  await expectUnknownOptionsRejected((o) => tokenGuard(o as unknown as TokenGuardOptions), await makeKey('ES256'));
});
