import '@mantine/core/styles.css';
import '@mantine/charts/styles.css';
import './console.css';
import { createTheme, MantineProvider, type CSSVariablesResolver } from '@mantine/core';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';

/** The per-answer nonce the server wrote into the page: style elements added at run time carry it (CSP). */
const nonce = document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? '';

// Darker shades than the defaults, so white text on filled controls and dimmed text keep a 4.5:1 contrast.
const theme = createTheme({ primaryColor: 'blue', primaryShade: 9, respectReducedMotion: true, defaultRadius: 'sm', fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' });
const resolver: CSSVariablesResolver = () => ({ variables: {}, light: { '--mantine-color-dimmed': '#495057', '--mantine-color-placeholder': '#5c636a' }, dark: {} });

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} cssVariablesResolver={resolver} getStyleNonce={() => nonce} forceColorScheme="light">
      <App />
    </MantineProvider>
  </StrictMode>,
);
