// A DOM for component tests under node:test: happy-dom's window as the globals React and Mantine use.
// Import this module first in a component spec, before React or the testing library.
import { GlobalRegistrator } from '@happy-dom/global-registrator';

GlobalRegistrator.register({ url: 'http://console.test/', width: 1280, height: 900 });
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
