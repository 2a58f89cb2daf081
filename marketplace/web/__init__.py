"""The web pages: server-rendered on the NHS.UK design system (``nhsuk-frontend`` from
npm), calling the same service functions as the API, with HTML errors of their own."""
